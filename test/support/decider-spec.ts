import type { Decider } from "../../domain/decider";
import { DomainError } from "../../domain/errors";

/**
 * Given past events, when a command, then these events (or this error):
 *   specify(orderDecider).given([created]).when(confirm).then([confirmed])
 */
export function specify<Command, Event, State>(decider: Decider<Command, Event, State>) {
  return {
    given(history: Event[]) {
      const state = history.reduce(decider.evolve, decider.initialState());
      return {
        when(command: Command) {
          const run = () => decider.decide(command, state);
          return {
            then(expected: Event[]) {
              expect(run()).toEqual(expected);
            },
            thenThrows(code: string, details?: Record<string, unknown>) {
              let thrown: unknown;
              try {
                run();
              } catch (error) {
                thrown = error;
              }
              expect(thrown).toBeInstanceOf(DomainError);
              expect((thrown as DomainError).code).toBe(code);
              if (details) expect((thrown as DomainError).details).toMatchObject(details);
            },
          };
        },
        thenState(expected: State) {
          expect(state).toEqual(expected);
        },
      };
    },
  };
}
