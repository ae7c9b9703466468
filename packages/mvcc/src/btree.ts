/**
 * sorted-btree is CommonJS with `exports.default`: bundlers and vitest hand
 * the class to a default import, but Node's own ESM loader hands over the
 * whole `module.exports` object. Accept both so source, tests and dist run.
 */
import BTreeImport from 'sorted-btree';

type BTreeClass = typeof BTreeImport;
const interop = BTreeImport as unknown as { default?: BTreeClass };

/** The B+ tree class, whatever the loader. */
export const BTree: BTreeClass =
  typeof interop.default === 'function' ? interop.default : BTreeImport;

/** A B+ tree instance type. */
export type BTree<K, V> = BTreeImport<K, V>;
