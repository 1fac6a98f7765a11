// The identity provider of tests/oidc: panva's oidc-provider (OpenID Certified), with its
// development log-in pages (any password; the login name is the account). Accounts and their
// groups are read from OIDC_ACCOUNTS (a JSON file) at each use, so a test can change a user's
// groups while they are logged in.
//
//   OIDC_PORT, OIDC_ACCOUNTS, OIDC_REDIRECT_URIS and OIDC_POST_LOGOUT_URIS (comma-separated)
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = () => JSON.parse(readFileSync(process.env.OIDC_ACCOUNTS, 'utf8'));

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'locker',
    client_secret: 'locker-test-secret',
    redirect_uris: process.env.OIDC_REDIRECT_URIS.split(','),
    post_logout_redirect_uris: process.env.OIDC_POST_LOGOUT_URIS.split(','),
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
  }],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['preferred_username', 'name', 'groups'],
  },
  cookies: { keys: ['locker-tests-only'] },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
  },
  // A refresh token with every log-in (as Keycloak gives), without offline_access.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  pkce: { required: () => true },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        const now = accounts()[id] || {};
        return {
          sub: id,
          preferred_username: id,
          name: now.name || id,
          email: now.email,
          email_verified: now.email_verified ?? true,
          groups: now.groups || [],
        };
      },
    };
  },
  // No consent page: the test client is a first-party application.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log(`ready ${issuer}`));
