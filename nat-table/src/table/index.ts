/** The translation table and its configuration. */
export * from './config.js';
export * from './nat-table.js';
