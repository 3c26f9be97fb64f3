/** A mistake in what was typed: printed as one line and the usage, never as a stack. */
export class UsageError extends Error {
  constructor(
    message: string,
    /** The forms to show after the message; the whole command's when left out. */
    readonly usage?: readonly string[],
  ) {
    super(message);
  }
}
