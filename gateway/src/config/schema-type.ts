/**
 * The TypeScript type of a value that a JSON schema (written `as const`) accepts, for the
 * keywords the config's schema uses: `type` (object, string, integer, number, boolean,
 * array), `properties` with `required`, `items`, `enum`, `const` and `anyOf`. Other
 * keywords (patterns, bounds) narrow nothing at the type level and are ignored. With it
 * the config's shape is written once, in the schema that ajv checks.
 */
export type FromSchema<S> =
  S extends { readonly const: infer C } ? C
    : S extends { readonly enum: readonly (infer E)[] } ? E
      : S extends { readonly anyOf: readonly (infer A)[] } ? FromSchema<A>
        : S extends { readonly type: 'string' } ? string
          : S extends { readonly type: 'integer' | 'number' } ? number
            : S extends { readonly type: 'boolean' } ? boolean
              : S extends { readonly type: 'array'; readonly items: infer I } ? readonly FromSchema<I>[]
                : S extends { readonly type: 'object'; readonly properties: infer P } ? ObjectOf<P, RequiredKeys<S>>
                  : unknown;

type RequiredKeys<S> = S extends { readonly required: readonly (infer K)[] } ? K : never;

/** An object type with the required keys mandatory and the others optional, shown flat. */
type ObjectOf<P, R> = Flat<
  { readonly [K in keyof P as K extends R ? K : never]: FromSchema<P[K]> }
  & { readonly [K in keyof P as K extends R ? never : K]?: FromSchema<P[K]> }
>;

type Flat<T> = { [K in keyof T]: T[K] } & unknown;
