/**
 * The auth store: users, roles and their key-range permissions, the
 * enabled flag, and the tokens handed out by Authenticate. Changes are
 * applied through Raft on every member (see EtcdServer); each bumps the auth
 * revision. Stored in the backend's buckets as etcd does: 'authUsers'
 * (name → authpb.User), 'authRoles' (name → authpb.Role), 'auth'
 * ("authEnabled" → 0/1, "authRevision" → u64).
 *
 * Tokens are etcd's "simple" tokens: random strings valid on every member
 * (the token is chosen by the member that checked the password and
 * replicated with the Authenticate entry), expiring after a TTL without use,
 * and dropped whenever the user's rights change or auth is disabled.
 */
import { randomBytes } from 'node:crypto';
import type { etcdserverpb } from '@kv/api';
import { authpb } from '@kv/api';
import type { Backend } from '@kv/mvcc';
import type { Clock } from '../clock';
import { Errors } from '../errors';
import { covers } from './permissions';
import type { Access } from './permissions';

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

const ENABLED_KEY = Buffer.from('authEnabled');
const REVISION_KEY = Buffer.from('authRevision');

interface TokenInfo {
  readonly user: string;
  expiresAt: number;
}

export class AuthStore {
  #enabled = false;
  #revision = 1n;
  readonly #users = new Map<string, authpb.User>();
  readonly #roles = new Map<string, authpb.Role>();
  readonly #tokens = new Map<string, TokenInfo>();

  constructor(
    private readonly clock: Clock,
    /** Idle lifetime of a simple token (etcd: 5 minutes). */
    private readonly tokenTtlMs = 5 * 60_000,
  ) {}

  async load(backend: Backend): Promise<void> {
    this.#users.clear();
    this.#roles.clear();
    this.#tokens.clear();
    const enabled = await backend.get('auth', ENABLED_KEY);
    this.#enabled = enabled !== undefined && enabled[0] === 1;
    const rev = await backend.get('auth', REVISION_KEY);
    this.#revision =
      rev !== undefined && rev.length === 8 ? Buffer.from(rev).readBigUInt64BE(0) : 1n;
    for (const { value } of await backend.range('authUsers', new Uint8Array(0), undefined)) {
      const u = authpb.User.decode(value);
      this.#users.set(u.name.toString('utf8'), u);
    }
    for (const { value } of await backend.range('authRoles', new Uint8Array(0), undefined)) {
      const r = authpb.Role.decode(value);
      this.#roles.set(r.name.toString('utf8'), r);
    }
  }

  get enabled(): boolean {
    return this.#enabled;
  }

  get revision(): bigint {
    return this.#revision;
  }

  // ------------------------------------------------------------ reads

  user(name: string): authpb.User | undefined {
    return this.#users.get(name);
  }

  role(name: string): authpb.Role | undefined {
    return this.#roles.get(name);
  }

  userNames(): string[] {
    return [...this.#users.keys()].sort();
  }

  roleNames(): string[] {
    return [...this.#roles.keys()].sort();
  }

  /** The user a token stands for; refreshes its idle timer. */
  userOfToken(token: string): string | undefined {
    const t = this.#tokens.get(token);
    if (t === undefined) return undefined;
    const now = this.clock.now();
    if (t.expiresAt <= now) {
      this.#tokens.delete(token);
      return undefined;
    }
    t.expiresAt = now + this.tokenTtlMs;
    return t.user;
  }

  isAdmin(user: string): boolean {
    return this.#users.get(user)?.roles.includes(ROOT_ROLE) ?? false;
  }

  /** Throws etcd's permission-denied error unless `user` may access the range. */
  checkRange(user: string, access: Access, key: Uint8Array, rangeEnd: Uint8Array): void {
    if (!this.#enabled) return;
    const u = this.#users.get(user);
    if (u === undefined) throw Errors.permissionDenied();
    if (u.roles.includes(ROOT_ROLE)) return;
    const roles = u.roles
      .map((r) => this.#roles.get(r))
      .filter((r): r is authpb.Role => r !== undefined);
    if (!covers(roles, access, key, rangeEnd)) throw Errors.permissionDenied();
  }

  /** A fresh token for a user whose password was checked (proposed through Raft). */
  newToken(): string {
    return randomBytes(12).toString('base64url') + '.' + this.#revision.toString();
  }

  // ------------------------------------------------------------ apply (all members)

  #bump(backend: Backend): void {
    this.#revision++;
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(this.#revision);
    backend.put('auth', REVISION_KEY, b);
  }

  #putUser(backend: Backend, u: authpb.User): void {
    this.#users.set(u.name.toString('utf8'), u);
    backend.put('authUsers', u.name, authpb.User.encode(u).finish());
  }

  #putRole(backend: Backend, r: authpb.Role): void {
    this.#roles.set(r.name.toString('utf8'), r);
    backend.put('authRoles', r.name, authpb.Role.encode(r).finish());
  }

  #dropTokensOf(user: string | undefined): void {
    for (const [t, info] of this.#tokens)
      if (user === undefined || info.user === user) this.#tokens.delete(t);
  }

  applyEnable(backend: Backend): void {
    if (this.#enabled) return;
    const root = this.#users.get(ROOT_USER);
    if (root === undefined) throw Errors.rootUserNotExist();
    if (!root.roles.includes(ROOT_ROLE)) throw Errors.rootRoleNotExist();
    this.#enabled = true;
    backend.put('auth', ENABLED_KEY, Buffer.of(1));
    this.#dropTokensOf(undefined);
    this.#bump(backend);
  }

  applyDisable(backend: Backend): void {
    if (!this.#enabled) return;
    this.#enabled = false;
    backend.put('auth', ENABLED_KEY, Buffer.of(0));
    this.#dropTokensOf(undefined);
    this.#bump(backend);
  }

  applyAuthenticate(user: string, token: string): void {
    if (!this.#users.has(user)) throw Errors.authFailed();
    this.#tokens.set(token, { user, expiresAt: this.clock.now() + this.tokenTtlMs });
  }

  /** `password` here is already the stored hash (or empty with no_password). */
  applyUserAdd(backend: Backend, r: etcdserverpb.AuthUserAddRequest): void {
    if (r.name === '') throw Errors.userEmpty();
    if (this.#users.has(r.name)) throw Errors.userAlreadyExist();
    this.#putUser(backend, {
      name: Buffer.from(r.name),
      password: Buffer.from(r.hashedPassword),
      roles: [],
      options: r.options ?? { noPassword: false },
    });
    this.#bump(backend);
  }

  applyUserDelete(backend: Backend, name: string): void {
    if (this.#enabled && name === ROOT_USER) throw Errors.invalidAuthMgmt();
    if (!this.#users.delete(name)) throw Errors.userNotFound();
    backend.delete('authUsers', Buffer.from(name));
    this.#dropTokensOf(name);
    this.#bump(backend);
  }

  applyUserChangePassword(backend: Backend, name: string, hashed: string): void {
    const u = this.#users.get(name);
    if (u === undefined) throw Errors.userNotFound();
    this.#putUser(backend, { ...u, password: Buffer.from(hashed) });
    this.#dropTokensOf(name);
    this.#bump(backend);
  }

  applyUserGrantRole(backend: Backend, user: string, role: string): void {
    const u = this.#users.get(user);
    if (u === undefined) throw Errors.userNotFound();
    if (role !== ROOT_ROLE && !this.#roles.has(role)) throw Errors.roleNotFound();
    if (u.roles.includes(role)) return;
    this.#putUser(backend, { ...u, roles: [...u.roles, role].sort() });
    this.#bump(backend);
  }

  applyUserRevokeRole(backend: Backend, user: string, role: string): void {
    if (this.#enabled && user === ROOT_USER && role === ROOT_ROLE) throw Errors.invalidAuthMgmt();
    const u = this.#users.get(user);
    if (u === undefined) throw Errors.userNotFound();
    if (!u.roles.includes(role)) throw Errors.roleNotGranted();
    this.#putUser(backend, { ...u, roles: u.roles.filter((r) => r !== role) });
    this.#dropTokensOf(user);
    this.#bump(backend);
  }

  applyRoleAdd(backend: Backend, name: string): void {
    if (name === '') throw Errors.roleEmpty();
    if (this.#roles.has(name)) throw Errors.roleAlreadyExist();
    this.#putRole(backend, { name: Buffer.from(name), keyPermission: [] });
    this.#bump(backend);
  }

  applyRoleDelete(backend: Backend, name: string): void {
    if (this.#enabled && name === ROOT_ROLE) throw Errors.invalidAuthMgmt();
    if (!this.#roles.delete(name)) throw Errors.roleNotFound();
    backend.delete('authRoles', Buffer.from(name));
    for (const u of [...this.#users.values()]) {
      if (u.roles.includes(name)) {
        this.#putUser(backend, { ...u, roles: u.roles.filter((r) => r !== name) });
        this.#dropTokensOf(u.name.toString('utf8'));
      }
    }
    this.#bump(backend);
  }

  applyRoleGrantPermission(backend: Backend, name: string, perm: authpb.Permission): void {
    const r = this.#roles.get(name);
    if (r === undefined) throw Errors.roleNotFound();
    const same = (p: authpb.Permission): boolean =>
      p.key.equals(perm.key) && p.rangeEnd.equals(perm.rangeEnd);
    const rest = r.keyPermission.filter((p) => !same(p));
    const keyPermission = [...rest, perm].sort((a, b) => Buffer.compare(a.key, b.key));
    this.#putRole(backend, { ...r, keyPermission });
    this.#bump(backend);
  }

  applyRoleRevokePermission(backend: Backend, name: string, key: Buffer, rangeEnd: Buffer): void {
    const r = this.#roles.get(name);
    if (r === undefined) throw Errors.roleNotFound();
    const keep = r.keyPermission.filter((p) => !(p.key.equals(key) && p.rangeEnd.equals(rangeEnd)));
    if (keep.length === r.keyPermission.length) throw Errors.permissionNotGranted();
    this.#putRole(backend, { ...r, keyPermission: keep });
    for (const u of this.#users.values())
      if (u.roles.includes(name)) this.#dropTokensOf(u.name.toString('utf8'));
    this.#bump(backend);
  }
}
