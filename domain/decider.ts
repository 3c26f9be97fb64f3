/**
 * The shape of every aggregate of the domain (emmett's decider): what a command decides from
 * the state, how an event changes the state, and the state before any event. The aggregate
 * repository runs deciders against the event store; the given/when/then tests run them alone.
 */
export interface Decider<Command, Event, State> {
  decide(command: Command, state: State): Event[];
  evolve(state: State, event: Event): State;
  initialState(): State;
}
