/**
 * Authentication as the document declares it (checklist items 1 and 11, OWASP API2:2023): every operation secured or
 * explicitly public, every named scheme defined, no passwords on every request (HTTP Basic), no outdated HTTP schemes,
 * no API keys in URLs or cookies, no credentials in URL parameters or server URLs, no deprecated OAuth flows, and
 * refresh tokens for the authorization code flow.
 */
import { isObject, joinPointer } from '../../../openapi/pointer.ts';
import type { AuditDocument, OperationInfo } from '../document.ts';
import { listSome, plural, type FindingSink } from '../findings.ts';
import { STATIC_RULES } from '../rules.ts';
import { isCredentialParameterName } from '../vocabulary.ts';

export function checkAuthentication(doc: AuditDocument, sink: FindingSink): void {
  checkOperationsSecured(doc, sink);
  checkSchemesDefined(doc, sink);
  checkSchemes(doc, sink);
  checkCredentialParameters(doc, sink);
  checkServerCredentials(doc, sink);
}

function checkOperationsSecured(doc: AuditDocument, sink: FindingSink): void {
  const open = doc.operations.filter((op) => op.security.anonymous && !op.security.explicitPublic);
  if (open.length === 0) return;
  const declaresAny = doc.operations.some((op) => (op.security.requirements ?? []).some((r) => Object.keys(r).length > 0));
  if (!declaresAny) {
    // One root cause: the document declares no authentication at all.
    sink.add(STATIC_RULES.operationWithoutSecurity, {
      key: 'document',
      message: `the document declares no security requirement: all ${plural(open.length, 'operation')} are open to anonymous callers (${listSome(open.map((o) => o.label))})`,
      pointers: [doc.document.security !== undefined ? '/security' : ''],
      operations: open,
    });
    return;
  }
  for (const op of open) {
    const optional = (op.security.requirements ?? []).length > 0;
    sink.add(STATIC_RULES.operationWithoutSecurity, {
      key: op.label,
      message: optional
        ? `${op.label} makes authentication optional (an empty alternative {} in its security requirements) and is not marked public`
        : `${op.label} has no security requirement and is not marked public`,
      pointers: [op.pointer, ...(optional && op.security.pointer ? [op.security.pointer] : [])],
    });
  }
}

function checkSchemesDefined(doc: AuditDocument, sink: FindingSink): void {
  const defined = new Set(doc.securitySchemes().map((s) => s.name));
  const missing = new Map<string, string[]>();
  const visit = (list: unknown, pointer: string) => {
    if (!Array.isArray(list)) return;
    list.forEach((requirement, i) => {
      if (!isObject(requirement)) return;
      for (const name of Object.keys(requirement)) {
        if (defined.has(name)) continue;
        const sites = missing.get(name) ?? [];
        sites.push(`${pointer}/${i}`);
        missing.set(name, sites);
      }
    });
  };
  visit(doc.document.security, '/security');
  for (const op of doc.operations) visit(op.node.security, joinPointer(op.pointer, 'security'));
  for (const [name, pointers] of missing) {
    sink.add(STATIC_RULES.undefinedScheme, {
      key: name,
      message: `security scheme "${name}" is required but not defined (${plural(pointers.length, 'requirement')})`,
      pointers,
      operations: doc.operationsRequiring(name),
    });
  }
}

function checkSchemes(doc: AuditDocument, sink: FindingSink): void {
  for (const scheme of doc.securitySchemes()) {
    const { name, pointer, node } = scheme;
    const users = doc.operationsRequiring(name);
    const used = users.length > 0 ? ` (required by ${plural(users.length, 'operation')})` : ' (defined, not used by any operation)';
    const type = typeof node.type === 'string' ? node.type : '';
    if (type === 'basic' || (type === 'http' && typeof node.scheme === 'string' && /^basic$/i.test(node.scheme))) {
      // RFC 9110 §11.1: authentication scheme names are case-insensitive.
      sink.add(STATIC_RULES.httpBasic, { key: pointer, message: `security scheme "${name}" uses HTTP Basic${used}`, pointers: [pointer], operations: users });
    } else if (type === 'http' && typeof node.scheme === 'string' && /^(digest|negotiate|ntlm|oauth)$/i.test(node.scheme)) {
      sink.add(STATIC_RULES.insecureHttpScheme, { key: pointer, message: `security scheme "${name}" uses HTTP ${node.scheme}${used}`, pointers: [pointer], operations: users });
    }
    if (type === 'apiKey') {
      const where = typeof node.in === 'string' ? node.in.toLowerCase() : '';
      const keyName = typeof node.name === 'string' ? ` "${node.name}"` : '';
      if (where === 'query' || where === 'path') {
        sink.add(STATIC_RULES.apiKeyInQuery, { key: pointer, message: `security scheme "${name}" sends the API key${keyName} in the ${where}${used}`, pointers: [pointer], operations: users });
      } else if (where === 'cookie') {
        sink.add(STATIC_RULES.apiKeyInCookie, { key: pointer, message: `security scheme "${name}" sends the API key${keyName} in a cookie${used}`, pointers: [pointer], operations: users });
      }
    }
    if (type === 'oauth2') checkOAuth(doc, sink, scheme, users, used);
  }
}

function checkOAuth(
  doc: AuditDocument,
  sink: FindingSink,
  scheme: { name: string; pointer: string; node: Record<string, unknown> },
  users: readonly OperationInfo[],
  used: string,
): void {
  const { name, pointer, node } = scheme;
  if (doc.version === '2.0') {
    // Swagger 2.0: one flow per scheme (`implicit`, `password`, `application`, `accessCode`), no refreshUrl field.
    if (node.flow === 'implicit' || node.flow === 'password') {
      sink.add(STATIC_RULES.oauthDeprecatedFlow, { key: pointer, message: `OAuth scheme "${name}" uses the ${node.flow} flow${used}`, pointers: [pointer], operations: users });
    }
    return;
  }
  if (!isObject(node.flows)) return;
  for (const [flowName, flow] of Object.entries(node.flows)) {
    const flowPointer = joinPointer(pointer, 'flows', flowName);
    if (flowName === 'implicit' || flowName === 'password') {
      sink.add(STATIC_RULES.oauthDeprecatedFlow, { key: flowPointer, message: `OAuth scheme "${name}" offers the ${flowName} flow${used}`, pointers: [flowPointer], operations: users });
    } else if (flowName === 'authorizationCode' && isObject(flow) && !(typeof flow.refreshUrl === 'string' && flow.refreshUrl !== '')) {
      // Not for clientCredentials: that grant issues no refresh token by design (RFC 6749 §4.4.3); its client
      // simply asks again, so a missing refreshUrl says nothing about token lifetime there.
      sink.add(STATIC_RULES.longLivedTokens, { key: flowPointer, message: `OAuth scheme "${name}": the authorization code flow declares no refreshUrl${used}`, pointers: [flowPointer], operations: users });
    }
  }
}

/**
 * One finding per parameter name and place: an API that takes `?token=` on 300 operations made one design choice,
 * declared 300 times inline; every declaration is a location.
 */
function checkCredentialParameters(doc: AuditDocument, sink: FindingSink): void {
  const groups = new Map<string, { where: string; name: string; pointers: string[]; ops: Set<OperationInfo> }>();
  for (const site of doc.parameters()) {
    const where = site.node.in;
    const name = site.node.name;
    if ((where !== 'query' && where !== 'path') || typeof name !== 'string' || !isCredentialParameterName(name)) continue;
    const key = `${where}:${name}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { where, name, pointers: [], ops: new Set() }));
    group.pointers.push(site.pointer);
    for (const op of doc.operationsUsing(site.owner, 'request', site.pointer)) group.ops.add(op);
  }
  for (const [key, group] of groups) {
    const ops = doc.operations.filter((op) => group.ops.has(op));
    const context = ops.length === 1 ? ` of ${ops[0]!.label}` : ops.length > 1 ? ` (${plural(ops.length, 'operation')}: ${listSome(ops.map((o) => o.label), 3)})` : '';
    sink.add(STATIC_RULES.credentialsInUrl, {
      key,
      message: `${group.where} parameter "${group.name}"${context} carries a credential in the URL`,
      pointers: group.pointers,
      operations: ops,
    });
  }
}

/** `scheme://user:password@host`: a password in the authority of a URL. */
export const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;

/** The URL with its password replaced, for evidence. */
export function maskUrlPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^/\s@]+@/i, '$1****@');
}

function checkServerCredentials(doc: AuditDocument, sink: FindingSink): void {
  for (const server of doc.servers()) {
    if (!URL_WITH_PASSWORD.test(server.url)) continue;
    sink.add(STATIC_RULES.credentialsInUrl, {
      key: doc.location(server.pointer).pointer,
      message: `server URL carries a user name and password`,
      pointers: [server.pointer],
      evidence: [{ note: `url: ${maskUrlPassword(server.url)}` }],
    });
  }
  const host = doc.document.host;
  if (doc.version === '2.0' && typeof host === 'string' && host.includes('@')) {
    sink.add(STATIC_RULES.credentialsInUrl, { key: '/host', message: 'host carries user information', pointers: ['/host'], evidence: [{ note: `host: ${host.replace(/^[^@]*@/, '****@')}` }] });
  }
}
