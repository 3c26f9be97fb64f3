import { assess } from "../../domain/antifraud";
import * as payment from "../../domain/payment";
import { PaymentCommand, PaymentEvent } from "../../domain/payment";
import { specify } from "../support/decider-spec";

const now = "2026-11-29T10:00:00.000Z";
const request = { orderId: "o-1", customerId: "c-1", amount: 5000, currency: "EUR" };
const spec = specify(payment);
const authorize = (limit: number): PaymentCommand => ({ type: "AuthorizePayment", data: { ...request, limit }, metadata: { now } });
const voidPayment: PaymentCommand = { type: "VoidPayment", data: { orderId: "o-1" }, metadata: { now } };
const authorized: PaymentEvent = { type: "PaymentAuthorized", data: { ...request, authorizedAt: now } };
const declined: PaymentEvent = { type: "PaymentDeclined", data: { ...request, reason: "AMOUNT_ABOVE_LIMIT", declinedAt: now } };
const voided: PaymentEvent = { type: "PaymentVoided", data: { orderId: "o-1", voidedAt: now } };
const capture: PaymentCommand = { type: "CapturePayment", data: { orderId: "o-1" }, metadata: { now } };
const captured: PaymentEvent = { type: "PaymentCaptured", data: { orderId: "o-1", capturedAt: now } };

describe("Payment decider", () => {
  it("authorises an amount up to the limit", () => spec.given([]).when(authorize(5000)).then([authorized]));
  it("declines an amount above the limit", () => spec.given([]).when(authorize(4999)).then([declined]));
  it.each([
    ["authorised", [authorized]],
    ["declined", [declined]],
    ["voided", [authorized, voided]],
  ])("answers a repeated authorisation of a %s payment with nothing new", (_status, history) => {
    spec.given(history).when(authorize(1_000_000)).then([]);
  });
  it("voids an authorised payment once", () => {
    spec.given([authorized]).when(voidPayment).then([voided]);
    spec.given([authorized, voided]).when(voidPayment).then([]);
  });
  it("has nothing to void when the payment was declined", () => {
    spec.given([declined]).when(voidPayment).then([]);
  });
  it("bars a later authorisation when the void overtakes it", () => {
    spec.given([]).when(voidPayment).then([voided]);
    spec.given([voided]).when(authorize(1_000_000)).then([]);
    spec.given([voided]).thenState({ status: "voided", orderId: "o-1", voidedAt: now, authorization: null });
  });

  describe("capture (saga definition v2, once the order is confirmed)", () => {
    it("captures an authorised payment once; a repeated capture answers it with nothing new", () => {
      spec.given([authorized]).when(capture).then([captured]);
      spec.given([authorized, captured]).when(capture).then([]);
      spec.given([authorized, captured]).thenState({ status: "captured", ...request, authorizedAt: now, capturedAt: now });
    });
    it("does not void a captured payment: a late void changes nothing", () => {
      spec.given([authorized, captured]).when(voidPayment).then([]);
    });
    it.each([
      ["none", []],
      ["declined", [declined]],
      ["voided", [authorized, voided]],
    ])("refuses to capture a payment that is %s", (status, history) => {
      spec.given(history).when(capture).thenThrows("PAYMENT_NOT_CAPTURABLE", { status });
    });
  });
});

describe("antifraud rules", () => {
  const policy = { maxTotal: 1_000_000, blockedCustomers: new Set(["mallory"]) };
  it.each([
    [
      { customerId: "alice", total: 1_000_000 },
      { decision: "approved", reason: null },
    ],
    [
      { customerId: "alice", total: 1_000_001 },
      { decision: "rejected", reason: "TOTAL_ABOVE_LIMIT" },
    ],
    [
      { customerId: "mallory", total: 10 },
      { decision: "rejected", reason: "CUSTOMER_BLOCKED" },
    ],
  ])("%o → %o", (order, decision) => {
    expect(assess({ orderId: "o", currency: "EUR", ...order }, policy)).toEqual(decision);
  });
});
