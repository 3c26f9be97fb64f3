/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  // The whole tree is a root so that coverage also counts the product files no test loads; the tests are in test/.
  roots: ["<rootDir>"],
  testMatch: ["<rootDir>/test/**/*.spec.ts"],
  modulePathIgnorePatterns: ["<rootDir>/dist/", "<rootDir>/coverage/", "<rootDir>/test-artifacts/", "<rootDir>/data/"],
  // tsconfig's isolatedModules makes ts-jest transpile each file alone (fast); the whole
  // tree is type checked once by `tsc --noEmit` in `npm test`.
  transform: {
    "^.+\\.ts$": "ts-jest",
    // OpenTelemetry's OTLP/HTTP transport loads node:http with import(), which Jest's CommonJS
    // sandbox refuses without --experimental-vm-modules: compiled to require() here (Node runs it as shipped).
    "/node_modules/@opentelemetry/otlp-exporter-base/.+\\.cjs$": ["ts-jest", { tsconfig: { allowJs: true, module: "commonjs", target: "ES2022" } }],
  },
  transformIgnorePatterns: ["/node_modules/(?!@opentelemetry/otlp-exporter-base/)"],
  testTimeout: 30000,
  // Suites share one RabbitMQ and some restart it: they must not run side by side.
  maxWorkers: 1,
  // Coverage (npm run test:unit|int|e2e pass --coverage and a directory per tier) counts the product code only, not tools/, which never ships.
  collectCoverageFrom: ["{domain,adapters,middlewares,tracing,mixins,services,repl}/**/*.ts", "*.ts", "!**/*.d.ts"],
  coverageReporters: ["text-summary", "json-summary"],
};
