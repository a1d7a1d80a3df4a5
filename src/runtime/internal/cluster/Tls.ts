/**
 * A throwaway certificate authority for one cluster (`cluster.ts start --tls`): a CA and one certificate that
 * every runner and client of the cluster presents, made with `openssl` in a folder the launcher owns. The
 * cluster trusts exactly the holders of a certificate its CA signed; a client without one, or with another
 * CA's, is refused during the TLS handshake (see `Transport.ts`).
 */
import { Effect, Schema } from "effect"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { describe } from "../../ActorError.ts"
import type { Tls } from "./ConnectionFile.ts"

/** The TLS material cannot be made or read; the message is one line for the user. */
export class TlsUnavailable extends Schema.TaggedError<TlsUnavailable>()("TlsUnavailable", {
  message: Schema.String
}) {}

const openssl = (args: ReadonlyArray<string>, cwd: string) =>
  ChildProcess.execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] })

/** Make a CA and a certificate it signs, for `hosts` (IP addresses or names), in `dir`; PEM paths back. */
export const make = (dir: string, hosts: ReadonlyArray<string>): Effect.Effect<Tls, TlsUnavailable> =>
  Effect.try({
    try: () => {
      Fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
      const san = [...new Set(["127.0.0.1", "localhost", ...hosts])]
        .map((host) => (/^[\d.]+$/.test(host) || host.includes(":") ? `IP:${host}` : `DNS:${host}`))
        .join(",")
      const days = ["-days", "30"]
      openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", ...days, "-subj", "/CN=actorflow cluster CA"], dir)
      openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=actorflow node"], dir)
      Fs.writeFileSync(Path.join(dir, "node.ext"), `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\n`)
      openssl(["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "node.pem", ...days, "-extfile", "node.ext"], dir)
      for (const file of ["ca.key", "node.key"]) Fs.chmodSync(Path.join(dir, file), 0o600)
      return { ca: Path.join(dir, "ca.pem"), cert: Path.join(dir, "node.pem"), key: Path.join(dir, "node.key") }
    },
    catch: (error) => new TlsUnavailable({ message: `cannot make the cluster's certificates with openssl: ${describe(error)}` })
  })

/** Check that every file of a TLS section can be read (one line naming the first that cannot). */
export const check = (tls: Tls): Effect.Effect<void, TlsUnavailable> =>
  Effect.forEach([tls.ca, tls.cert, tls.key], (file) =>
    Effect.try({
      try: () => Fs.accessSync(file, Fs.constants.R_OK),
      catch: () => new TlsUnavailable({ message: `the cluster's TLS file ${file} cannot be read` })
    }), { discard: true })
