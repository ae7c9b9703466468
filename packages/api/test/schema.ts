// Test-only reflection over the .proto files: the descriptor set that
// `pnpm nx run api:generate` writes to testdata/ drives random message
// generation and an independent codec (@bufbuild/protobuf's reflection
// runtime) to cross-check the ts-proto output.
import { readFileSync } from 'node:fs';
import { fromBinary, createFileRegistry, ScalarType } from '@bufbuild/protobuf';
import type { DescField, DescMessage, DescService, FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import fc from 'fast-check';
import { authpb, etcdserverpb, mvccpb, v3electionpb, v3lockpb } from '../src/index';

export const registry: FileRegistry = createFileRegistry(
  fromBinary(
    FileDescriptorSetSchema,
    readFileSync(new URL('../testdata/etcd-api.binpb', import.meta.url)),
  ),
);

/** The part of a ts-proto codec object the tests use. */
export interface Codec {
  encode(message: unknown): { finish(): Uint8Array };
  decode(input: Uint8Array): unknown;
  create(): object;
}

const modules: Record<string, Record<string, unknown>> = {
  etcdserverpb,
  mvccpb,
  authpb,
  v3lockpb,
  v3electionpb,
};

function isCodec(value: unknown): value is Codec {
  return (
    typeof value === 'object' &&
    value !== null &&
    'encode' in value &&
    'decode' in value &&
    'fromPartial' in value
  );
}

/** Every message descriptor, in file order. */
export const messageDescs: DescMessage[] = [...registry].filter(
  (d): d is DescMessage => d.kind === 'message',
);

/** Every service descriptor. */
export const serviceDescs: DescService[] = [...registry].filter(
  (d): d is DescService => d.kind === 'service',
);

/** ts-proto codec for a message type; nested names are joined with "_". */
export function codecOf(desc: DescMessage): Codec {
  const pkg = desc.file.proto.package;
  const name = desc.typeName.slice(pkg.length + 1).replaceAll('.', '_');
  const codec = modules[pkg]?.[name];
  if (!isCodec(codec)) throw new Error(`no ts-proto codec for ${desc.typeName}`);
  return codec;
}

/** Every ts-proto codec exported through the public namespaces, by full name. */
export function allExportedCodecs(): Map<string, Codec> {
  const out = new Map<string, Codec>();
  for (const [pkg, mod] of Object.entries(modules)) {
    for (const [name, value] of Object.entries(mod)) {
      if (isCodec(value)) out.set(`${pkg}.${name}`, value);
    }
  }
  return out;
}

const MAX_DEPTH = 3;

function scalarArb(scalar: ScalarType): fc.Arbitrary<unknown> {
  switch (scalar) {
    case ScalarType.INT64:
      return fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n);
    case ScalarType.UINT64:
      return fc.bigInt(0n, 2n ** 64n - 1n);
    case ScalarType.UINT32:
      return fc.integer({ min: 0, max: 0xffffffff });
    case ScalarType.INT32:
      return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.STRING:
      return fc.string({ unit: 'grapheme', maxLength: 8 });
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 12 }).map((b) => Buffer.from(b));
    default:
      throw new Error(`scalar type ${scalar} is not used by etcd's API`);
  }
}

function singleArb(field: DescField, depth: number): fc.Arbitrary<unknown> | undefined {
  switch (field.fieldKind) {
    case 'scalar':
      return scalarArb(field.scalar);
    case 'enum':
      return fc.constantFrom(...field.enum.values.map((v) => v.number));
    case 'message':
      return depth >= MAX_DEPTH ? undefined : messageArb(field.message, depth + 1);
    case 'list': {
      const elem =
        field.listKind === 'scalar'
          ? scalarArb(field.scalar)
          : field.listKind === 'enum'
            ? fc.constantFrom(...field.enum.values.map((v) => v.number))
            : depth >= MAX_DEPTH
              ? undefined
              : messageArb(field.message, depth + 1);
      return elem === undefined ? fc.constant([]) : fc.array(elem, { maxLength: 3 });
    }
    default:
      throw new Error(`map fields are not used by etcd's API (${field.name})`);
  }
}

const cache = new Map<string, fc.Arbitrary<unknown>>();

/**
 * Random message in ts-proto's shape (camelCase keys, bigint for 64-bit,
 * Buffer for bytes, oneofs as {$case, value}), at most MAX_DEPTH levels deep.
 */
export function messageArb(desc: DescMessage, depth = 0): fc.Arbitrary<unknown> {
  const cacheKey = `${desc.typeName}@${depth}`;
  const hit = cache.get(cacheKey);
  if (hit) return hit;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of desc.members) {
    if (member.kind === 'oneof') {
      const cases = member.fields.flatMap((f) => {
        const arb = singleArb(f, depth);
        return arb ? [arb.map((value) => ({ $case: f.localName, value }))] : [];
      });
      parts[member.localName] = fc.oneof(fc.constant(undefined), ...cases);
    } else if (member.fieldKind === 'message') {
      const arb = singleArb(member, depth);
      parts[member.localName] = arb ? fc.option(arb, { nil: undefined }) : fc.constant(undefined);
    } else {
      parts[member.localName] = singleArb(member, depth) ?? fc.constant(undefined);
    }
  }
  const arb = fc.record(parts);
  cache.set(cacheKey, arb);
  return arb;
}
