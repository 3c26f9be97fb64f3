import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** One admin's name and secret: ADMIN_TOKENS=name:token,..., or ADMIN_TOKEN, named "admin". */
export interface NamedToken {
  name: string;
  token: string;
}

/** The name given to ADMIN_TOKEN, and to the token generated when no token is configured. */
export const DEFAULT_ADMIN_NAME = "admin";

/**
 * The secrets of admin routes, each with the name of whoever holds it, so that every admin
 * action records who did it. A candidate is compared with every token, in constant time
 * whatever the length of the guess, and without stopping at the first match: the time taken
 * tells neither a token nor which one matched.
 */
export class AdminTokens {
  private readonly digests: { name: string; digest: Buffer }[];

  private constructor(tokens: readonly NamedToken[]) {
    this.digests = tokens.map(({ name, token }) => ({ name, digest: sha256(token) }));
  }

  /** The configured tokens; none configured: a random token for this run, handed once to `announce`. */
  static fromEnvironment(configured: readonly NamedToken[], announce: (generated: string) => void): AdminTokens {
    if (configured.length > 0) return new AdminTokens(configured);
    const generated = randomBytes(24).toString("base64url");
    announce(generated);
    return new AdminTokens([{ name: DEFAULT_ADMIN_NAME, token: generated }]);
  }

  /** The name of the admin whose token this is, or undefined. */
  identify(candidate: string): string | undefined {
    const digest = sha256(candidate);
    let name: string | undefined;
    // Digests have one length, so timingSafeEqual never leaks a token's length.
    for (const entry of this.digests) if (timingSafeEqual(entry.digest, digest) && name === undefined) name = entry.name;
    return name;
  }
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
