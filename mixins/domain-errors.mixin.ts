import { Errors, ServiceSchema } from "moleculer";
import { DomainError } from "../domain/errors";

/** The HTTP-like status that each stable domain error code stands for. */
export type StatusOfCode<Code extends string> = Record<Code, 400 | 404 | 409 | 422>;

/**
 * Turns the domain's rule violations into MoleculerClientErrors that keep the stable code as
 * `type`: 4xx, so never retried and never counted by a circuit breaker.
 */
export function DomainErrorsMixin<Code extends string>(statusOf: StatusOfCode<Code>): Partial<ServiceSchema> {
  return {
    hooks: {
      error: {
        "*"(_ctx: unknown, error: Error) {
          if (error instanceof DomainError && error.code in statusOf) {
            throw new Errors.MoleculerClientError(error.message, statusOf[error.code as Code], error.code as Code, error.details);
          }
          throw error;
        },
      },
    },
  };
}
