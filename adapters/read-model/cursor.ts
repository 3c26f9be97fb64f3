import { createHmac, timingSafeEqual } from "node:crypto";

export class InvalidCursor extends Error {
  override readonly name = "InvalidCursor";
}

const KEY_BYTES = 8;
/** 96 bits of HMAC-SHA256: a forged cursor is accepted once in 2^96 tries. */
const MAC_BYTES = 12;
const BASE64URL = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Cursors of one list: the key of the last row of a page (the position of its aggregate's
 * first event, which no change and no rebuild moves), signed with a key kept in the read
 * model's database (so every node that serves the list accepts it) and the list's name (so a
 * cursor of one list is refused by another). 28 characters of base64url; a cursor that was
 * not made here, or was changed, is an InvalidCursor.
 */
export class CursorCodec {
  constructor(
    private readonly secret: Buffer,
    private readonly scope: string,
  ) {}

  encode(key: bigint): string {
    const body = Buffer.alloc(KEY_BYTES);
    body.writeBigUInt64BE(key);
    return Buffer.concat([body, this.mac(body)]).toString("base64url");
  }

  decode(cursor: string): bigint {
    const bytes = BASE64URL.test(cursor) ? Buffer.from(cursor, "base64url") : Buffer.alloc(0);
    // Re-encoding refuses the other spellings of the same bytes (unused trailing bits).
    if (bytes.length !== KEY_BYTES + MAC_BYTES || bytes.toString("base64url") !== cursor) throw invalid();
    const body = bytes.subarray(0, KEY_BYTES);
    if (!timingSafeEqual(bytes.subarray(KEY_BYTES), this.mac(body))) throw invalid();
    return body.readBigUInt64BE();
  }

  private mac(body: Buffer): Buffer {
    return createHmac("sha256", this.secret).update(this.scope).update("\0").update(body).digest().subarray(0, MAC_BYTES);
  }
}

function invalid(): InvalidCursor {
  return new InvalidCursor("cursor is not one this API gave");
}
