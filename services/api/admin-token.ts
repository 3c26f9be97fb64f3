import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** The secret of admin routes, compared in constant time whatever the length of the guess. */
export class AdminToken {
  private readonly digest: Buffer;

  private constructor(token: string) {
    this.digest = sha256(token);
  }

  /** ADMIN_TOKEN when set; otherwise a random token for this run, handed once to `announce`. */
  static fromEnvironment(configured: string | undefined, announce: (generated: string) => void): AdminToken {
    if (configured) return new AdminToken(configured);
    const generated = randomBytes(24).toString("base64url");
    announce(generated);
    return new AdminToken(generated);
  }

  matches(candidate: string): boolean {
    // Digests have one length, so timingSafeEqual never leaks the token's length.
    return timingSafeEqual(this.digest, sha256(candidate));
  }
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
