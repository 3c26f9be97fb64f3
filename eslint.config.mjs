// Lint for the whole TypeScript tree, type-aware: tsconfig.json covers every .ts file we own.
// `npm run lint` runs this and `prettier --check .`; eslint-config-prettier (last) turns off the style rules Prettier owns.
import eslint from "@eslint/js";
import tseslint from "typescript-eslint";
import prettier from "eslint-config-prettier";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "public/", "coverage/", "test-artifacts/", "tools/bench/results/", "data/"] },
  eslint.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  tseslint.configs.stylisticTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // Implementations of the promise-returning ports (EventStore, Bus, ReadModelStore) and Moleculer handlers stay
      // `async` without an await so that a throw becomes a rejection, as callers of a port expect.
      "@typescript-eslint/require-await": "off",
      // Object shapes are `type` aliases on purpose: an interface is not assignable to Record<string, unknown>.
      "@typescript-eslint/consistent-type-definitions": "off",
      // No-op implementations (a memory store's ping/close, a silent logger, a bus without resources) are the point.
      "@typescript-eslint/no-empty-function": "off",
      // `process.env.X || default` deliberately treats an empty variable as unset; `??` would change that.
      "@typescript-eslint/prefer-nullish-coalescing": "off",
      // A catch passes on what it caught unchanged (reject(error) in a catch); a rejection the code makes up is an Error.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingUnknown: true }],
      // Moleculer runs a middleware's hooks with the broker as `this`; `const broker = this` names it for the closures.
      "@typescript-eslint/no-this-alias": ["error", { allowedNames: ["broker"] }],
      // A leading underscore names what is destructured only to be left out, or a parameter a port's signature needs.
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_", ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: {
      // Tests read untyped payloads (HTTP JSON, AMQP messages, Moleculer's ctx) and hand them to expect(): typing each
      // one would add casts, not safety.
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      // expect(obj.method).toHaveBeenCalled() passes jest mocks unbound, which is how jest is used.
      "@typescript-eslint/unbound-method": "off",
    },
  },
  {
    // The few JavaScript files (jest.config.js, this file) are not in tsconfig.json: lint them without types.
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: "commonjs", globals: { module: "readonly", require: "readonly" } },
  },
  {
    files: ["**/*.mjs"],
    languageOptions: { sourceType: "module" },
  },
  prettier,
);
