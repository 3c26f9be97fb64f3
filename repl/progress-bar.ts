/** Renders a bar for a value out of a maximum (clui's Progress, as moleculer-repl hands it). */
export interface BarRenderer {
  update(value: number, max: number): string;
}

/** Every quarter is printed on its own line when the output is not a terminal (a pipe, a log). */
const STEPS_OFF_TERMINAL = 4;

/**
 * Progress of `total` things: a bar redrawn in place on a terminal; elsewhere, where a
 * redraw would leave every frame behind, a line at each quarter.
 */
export class ProgressBar {
  private printedStep = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly bar: BarRenderer,
    private readonly stream: NodeJS.WriteStream,
  ) {}

  update(done: number): void {
    if (this.stream.isTTY) {
      this.stream.write(`\r${this.label} ${this.bar.update(done, this.total)} ${done}/${this.total}`);
      return;
    }
    const step = Math.floor((done / this.total) * STEPS_OFF_TERMINAL);
    if (step > this.printedStep) {
      this.printedStep = step;
      this.stream.write(`${this.label}: ${done}/${this.total}\n`);
    }
  }

  /** Ends the bar's line, on a terminal. */
  end(): void {
    if (this.stream.isTTY) this.stream.write("\n");
  }
}
