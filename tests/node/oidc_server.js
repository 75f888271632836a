// A real OpenID provider (the oidc-provider package) for tests/test_oidc.py.
// Usage: node oidc_server.js PORT KEYS_FILE. KEYS_FILE holds {"keys": [private JWKs]}; the first key signs.
// Clients (client_credentials, client_secret_basic, secret "secret"): their tier and roles claims below.
// GET /_stats answers {"jwks": <JWKS requests served>, "discovery": <discovery requests served>}.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const [port, keysFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const AUDIENCE = 'urn:gateway';
const CLAIMS = {
  'team-app': { tier: 'team', roles: ['reader'] },
  'intern-app': { tier: 'intern', roles: [] },
  'admin-app': { tier: 'team', roles: ['gateway-admin'] },
};
const clients = Object.keys(CLAIMS).map((id) => ({
  client_id: id,
  client_secret: 'secret',
  grant_types: ['client_credentials'],
  redirect_uris: [],
  response_types: [],
}));

const ALG = process.env.TOKEN_ALG || 'RS256';
const provider = new Provider(issuer, {
  clients,
  clientDefaults: { id_token_signed_response_alg: ALG },
  jwks: JSON.parse(readFileSync(keysFile, 'utf8')),
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every token is for the gateway, a JWT access token (not opaque) signed by the provider's keys.
      defaultResource: () => AUDIENCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'chat',
        audience: AUDIENCE,
        accessTokenTTL: Number(process.env.TOKEN_TTL || 300),
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: ALG } },
      }),
    },
  },
  extraTokenClaims: (ctx, token) => CLAIMS[token.clientId] || {},
});

const stats = { jwks: 0, discovery: 0 };
provider.use(async (ctx, next) => {
  if (ctx.path === '/_stats') {
    ctx.body = stats;
    return;
  }
  if (ctx.path === '/jwks') stats.jwks += 1;
  if (ctx.path === '/.well-known/openid-configuration') stats.discovery += 1;
  await next();
});

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
