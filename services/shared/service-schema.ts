import { ServiceSchema, ServiceSettingSchema } from "moleculer";

/**
 * A service schema whose actions see `this` as `TThis`. Moleculer 0.15's typings build an
 * action's `this` from the schema's generics (settings, methods, vars) and refuse a handler
 * that declares a narrower one, so each service names its own `this` here once.
 */
export type ServiceSchemaFor<TThis, TSettings = ServiceSettingSchema> = ServiceSchema<TSettings, object, TThis>;
