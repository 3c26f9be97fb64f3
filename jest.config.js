/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.spec.ts"],
  // tsconfig's isolatedModules makes ts-jest transpile each file alone (fast); the whole
  // tree is type checked once by `tsc --noEmit` in `npm test`.
  transform: { "^.+\\.ts$": "ts-jest" },
  testTimeout: 30000,
  // Suites share one RabbitMQ and some restart it: they must not run side by side.
  maxWorkers: 1,
};
