import type { ViewDefinition } from "./port";
import * as sagaDecider from "../../domain/order-saga";
import { OrderSaga, SagaEvent } from "../../domain/order-saga";

/** The saga list (GET /api/sagas, the deadline scheduler): one row per started saga, filtered by status and outcome. */
export const SAGAS_VIEW: ViewDefinition<OrderSaga> = {
  name: "sagas",
  streamPrefix: "saga",
  initialState: sagaDecider.initialState,
  // The log holds what the decider wrote: its events, as the aggregate repository folds them.
  evolve: (saga, event) => sagaDecider.evolve(saga, event as SagaEvent),
  // A cancellation recorded before the saga started is not a saga to list yet.
  exists: (saga) => saga.status !== "initial",
  columns: ["status", "outcome"],
  columnsOf: (saga) =>
    saga.status === "initial" ? { status: null, outcome: null } : { status: saga.status, outcome: saga.status === "ended" ? saga.outcome : null },
  countedBy: "status",
};
