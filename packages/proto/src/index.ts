// Generated protobuf code lives under ./gen (import "@trading/proto/gen/<package>/<file>").
// This module only locates the compiled descriptor set, which gRPC server reflection serves.
import { fileURLToPath } from "node:url"

/** Absolute path of the FileDescriptorSet built from proto/ by `pnpm proto`. */
export const descriptorSetPath: string = fileURLToPath(new URL("./gen/descriptors.binpb", import.meta.url))
