/** etcdserverpb.Auth over an EtcdServer: auth management is for root only once auth is on. */
import type { AuthServer, etcdserverpb } from '@kv/api';
import type { EtcdServer } from '../etcd-server';
import { Errors } from '../errors';
import { adminError } from './interceptors';
import type { CallerContext, Interceptors } from './interceptors';

const SERVICE = 'etcdserverpb.Auth';

export function authService(server: EtcdServer, ic: Interceptors): AuthServer {
  const admin = <Req, Res>(method: string, fn: (r: Req) => Promise<Res>) =>
    ic.unary(SERVICE, method, 'forbidden', async (r: Req, call: CallerContext) => {
      ic.requireAdmin(call);
      return fn(r);
    });
  /** Root, or the user asking about itself. */
  const selfOrAdmin = (call: CallerContext, name: string): void => {
    ic.authorize(call, (user, auth) => {
      const err = adminError(user, auth);
      if (err !== undefined && user !== name) throw err;
    });
  };
  const withHeader = async <T extends { header: etcdserverpb.ResponseHeader | undefined }>(
    p: Promise<T>,
  ): Promise<T> => {
    const r = await p;
    r.header = server.header();
    return r;
  };
  return {
    authEnable: ic.unary(SERVICE, 'AuthEnable', 'forbidden', async () =>
      withHeader(server.authEnable()),
    ),
    authDisable: admin('AuthDisable', async () => withHeader(server.authDisable())),
    authStatus: ic.unary(
      SERVICE,
      'AuthStatus',
      'allowed',
      async (): Promise<etcdserverpb.AuthStatusResponse> => {
        await server.linearizableReadBarrier();
        return {
          header: server.header(),
          enabled: server.auth.enabled,
          authRevision: server.auth.revision,
        };
      },
    ),
    authenticate: ic.unary(
      SERVICE,
      'Authenticate',
      'forbidden',
      (r: etcdserverpb.AuthenticateRequest) => server.authenticate(r.name, r.password),
    ),
    userAdd: admin('UserAdd', (r: etcdserverpb.AuthUserAddRequest) =>
      withHeader(server.userAdd(r)),
    ),
    userGet: ic.unary(
      SERVICE,
      'UserGet',
      'forbidden',
      async (r: etcdserverpb.AuthUserGetRequest, call) => {
        selfOrAdmin(call, r.name);
        await server.linearizableReadBarrier();
        const u = server.auth.user(r.name);
        if (u === undefined) throw Errors.userNotFound();
        return { header: server.header(), roles: [...u.roles] };
      },
    ),
    userList: admin('UserList', async (): Promise<etcdserverpb.AuthUserListResponse> => {
      await server.linearizableReadBarrier();
      return { header: server.header(), users: server.auth.userNames() };
    }),
    userDelete: admin('UserDelete', (r: etcdserverpb.AuthUserDeleteRequest) =>
      withHeader(server.userDelete(r)),
    ),
    userChangePassword: ic.unary(
      SERVICE,
      'UserChangePassword',
      'forbidden',
      async (r: etcdserverpb.AuthUserChangePasswordRequest, call) => {
        selfOrAdmin(call, r.name);
        return withHeader(server.userChangePassword(r));
      },
    ),
    userGrantRole: admin('UserGrantRole', (r: etcdserverpb.AuthUserGrantRoleRequest) =>
      withHeader(server.userGrantRole(r)),
    ),
    userRevokeRole: admin('UserRevokeRole', (r: etcdserverpb.AuthUserRevokeRoleRequest) =>
      withHeader(server.userRevokeRole(r)),
    ),
    roleAdd: admin('RoleAdd', (r: etcdserverpb.AuthRoleAddRequest) =>
      withHeader(server.roleAdd(r)),
    ),
    roleGet: ic.unary(
      SERVICE,
      'RoleGet',
      'forbidden',
      async (r: etcdserverpb.AuthRoleGetRequest, call) => {
        ic.authorize(call, (user, auth) => {
          const err = adminError(user, auth);
          if (err !== undefined && !(auth.user(user)?.roles.includes(r.role) ?? false)) throw err;
        });
        await server.linearizableReadBarrier();
        const role = server.auth.role(r.role);
        if (role === undefined) throw Errors.roleNotFound();
        return { header: server.header(), perm: role.keyPermission };
      },
    ),
    roleList: admin('RoleList', async (): Promise<etcdserverpb.AuthRoleListResponse> => {
      await server.linearizableReadBarrier();
      return { header: server.header(), roles: server.auth.roleNames() };
    }),
    roleDelete: admin('RoleDelete', (r: etcdserverpb.AuthRoleDeleteRequest) =>
      withHeader(server.roleDelete(r)),
    ),
    roleGrantPermission: admin(
      'RoleGrantPermission',
      (r: etcdserverpb.AuthRoleGrantPermissionRequest) => withHeader(server.roleGrantPermission(r)),
    ),
    roleRevokePermission: admin(
      'RoleRevokePermission',
      (r: etcdserverpb.AuthRoleRevokePermissionRequest) =>
        withHeader(server.roleRevokePermission(r)),
    ),
  };
}
