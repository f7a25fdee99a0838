// Certificates for TLS tests, made with openssl at test time so no key material is ever
// committed. Test support only: no service imports this module.
import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"

export interface CertificateFiles {
  /** PEM certificate */
  readonly cert: string
  /** PEM private key */
  readonly key: string
}

const openssl = (dir: string, args: ReadonlyArray<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" })

// P-256 keys: fast to generate and accepted by grpc-js / BoringSSL-compatible peers
const newKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"] as const

const files = (dir: string, name: string): CertificateFiles => ({
  cert: join(dir, `${name}.pem`),
  key: join(dir, `${name}.key`)
})

/** A self-signed certificate authority `<name>.pem` / `<name>.key` in `dir`, valid one day. */
export const makeCertificateAuthority = (dir: string, name: string): CertificateFiles => {
  openssl(dir, [
    "req",
    "-x509",
    ...newKey,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-subj",
    `/CN=${name}`
  ])
  return files(dir, name)
}

/**
 * A leaf certificate signed by the authority `ca` (made by `makeCertificateAuthority` in the
 * same `dir`), valid for 127.0.0.1 and localhost, usable as server and client certificate.
 */
export const issueCertificate = (
  dir: string,
  options: { readonly name: string; readonly ca: string; readonly subject?: string }
): CertificateFiles => {
  const { ca, name } = options
  writeFileSync(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
  openssl(dir, [
    "req",
    ...newKey,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
    "-subj",
    options.subject ?? `/CN=${name}`
  ])
  openssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-extfile",
    "san.ext"
  ])
  return files(dir, name)
}
