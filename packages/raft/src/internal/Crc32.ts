// CRC-32 (IEEE 802.3 polynomial, as zlib's), used to detect torn or corrupted records on disk.
//
// Node's native `zlib.crc32` (Node >= 20.15 and 22.2) when the runtime has it: about 1-2 ms a
// MiB less than the table loop below, which took 125 ms for a 34 MB snapshot, all of it
// blocking the event loop. The table loop is the fallback and the reference the test
// compares with.
import * as zlib from "node:zlib"

const table = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** The table implementation: `previous` continues a CRC over preceding bytes (0 to start). */
export const crc32Table = (bytes: Uint8Array, previous = 0): number => {
  let c = (previous ^ 0xffffffff) >>> 0
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

const native = (zlib as { readonly crc32?: (data: Uint8Array, value?: number) => number }).crc32

/** CRC-32 of `bytes`; `previous` continues a CRC over preceding bytes (0 to start). */
export const crc32: (bytes: Uint8Array, previous?: number) => number = native === undefined
  ? crc32Table
  // an empty array over a zero-length ArrayBuffer makes Node 20's crc32 answer 0, not `previous`
  : (bytes, previous = 0) => bytes.length === 0 ? previous >>> 0 : native(bytes, previous) >>> 0
