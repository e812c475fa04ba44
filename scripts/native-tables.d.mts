/** The text of native/tables.h, from the TypeScript tables of activations, losses and optimizers. */
export function nativeTables(): string;
