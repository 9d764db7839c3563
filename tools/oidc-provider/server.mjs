// A real OpenID Connect provider (the npm package oidc-provider) for the tests and the demo's
// SSO tenant: authorization code flow with PKCE, signed ID tokens, discovery and published keys.
//
// Configured by one JSON file (the first argument):
//   {"port": 9000, "issuer": "http://127.0.0.1:9000",
//    "clients": [{"client_id": "...", "client_secret": "...", "redirect_uris": ["..."]}],
//    "accounts": {"anna": {"email": "...", "given_name": "...", "family_name": "...",
//                          "groups": ["Sales DE"]}}}
// Its own login page accepts any password for a configured account (oidc-provider's development
// interactions); an unknown login is refused. Prints "ready <issuer>" once it listens.
import { readFileSync } from "node:fs";
import { exportJWK, generateKeyPair } from "jose";
import Provider, { errors } from "oidc-provider";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const accounts = config.accounts ?? {};

const { privateKey } = await generateKeyPair("RS256", { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: "test-key-1", alg: "RS256", use: "sig" };

const provider = new Provider(config.issuer, {
  clients: config.clients.map((client) => ({
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
    ...client,
  })),
  jwks: { keys: [signingKey] },
  cookies: { keys: ["test-identity-provider-cookie-key"] },
  claims: {
    openid: ["sub"],
    email: ["email", "email_verified"],
    // (groups come with the profile, as Okta's and Entra's group claims come without a scope)
    profile: ["given_name", "family_name", "preferred_username", "groups"],
  },
  // The claims the scopes ask for go into the ID token itself (no userinfo call needed).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const account = accounts[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, email_verified: true, ...account };
      },
    };
  },
  // First-party clients: every scope they ask for is granted without a consent page.
  async loadExistingGrant(ctx) {
    const grantId =
      ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope("openid email profile");
    await grant.save();
    return grant;
  },
});

// The development login page accepts any login; only configured accounts may sign in.
provider.use(async (ctx, next) => {
  if (ctx.method === "POST" && /^\/interaction\/[^/]+$/.test(ctx.path)) {
    const body = await new Promise((resolve) => {
      let data = "";
      ctx.req.on("data", (chunk) => (data += chunk));
      ctx.req.on("end", () => resolve(data));
    });
    const fields = new URLSearchParams(body);
    if (fields.get("prompt") === "login" && !accounts[fields.get("login")]) {
      ctx.status = 403;
      ctx.body = "Unknown account.";
      return;
    }
    // (hand the body back to the provider's own handler)
    ctx.req.body = Object.fromEntries(fields);
  }
  await next();
});

provider.on("server_error", (ctx, error) => console.error("server_error", error));
void errors;

const server = provider.listen(config.port, "127.0.0.1", () => {
  console.log(`ready ${config.issuer}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
