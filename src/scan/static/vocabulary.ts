/**
 * Name vocabularies the static audit matches property and parameter names against. They are general English/API
 * vocabulary (what OWASP's mass-assignment and data-exposure examples name, and what real APIs call these fields),
 * never names taken from a test fixture: a check must work on any API.
 *
 * Names are compared in a normal form: lower case with `_`, `-`, `.` and spaces removed, so `is_admin`, `isAdmin`
 * and `is-admin` are one name.
 */

export function normalName(name: string): string {
  return name.toLowerCase().replace(/[\s_.-]+/g, '');
}

/**
 * Properties a client should never set on itself (OWASP API3:2023 "mass assignment"; Mass Assignment Cheat Sheet):
 * roles and privilege flags, money, verification state, and ownership.
 */
const PRIVILEGED = new Set([
  'role',
  'roles',
  'userrole',
  'userroles',
  'admin',
  'isadmin',
  'administrator',
  'isadministrator',
  'superuser',
  'issuperuser',
  'isstaff',
  'staff',
  'permission',
  'permissions',
  'privilege',
  'privileges',
  'accesslevel',
  'usertype',
  'accounttype',
  'balance',
  'accountbalance',
  'credit',
  'credits',
  'creditlimit',
  'verified',
  'isverified',
  'emailverified',
  'isemailverified',
  'phoneverified',
  'approved',
  'isapproved',
  'owner',
  'ownerid',
  'userid',
  'tenantid',
  'createdby',
]);

export function isPrivilegedName(name: string): boolean {
  return PRIVILEGED.has(normalName(name));
}

/**
 * Secrets and regulated personal data that a response should never carry (OWASP API3:2023 excessive data exposure):
 * passwords and their hashes, shared secrets and private keys, payment card data (PCI DSS: PAN, CVV, PIN) and
 * national identity numbers. Matched as whole names or as suffixes (`currentPassword`, `webhookSecret`).
 */
const SENSITIVE_EXACT = new Set([
  'pin',
  'pincode',
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'cardverificationvalue',
  'securitycode',
  'ssn',
  'socialsecuritynumber',
  'nationalid',
  'nationalidnumber',
  'taxid',
  'passportnumber',
  'cardnumber',
  'creditcardnumber',
  'pan',
  'privatekey',
  'passwordhash',
  'passwordsalt',
  'hashedpassword',
  'totpsecret',
  'otpsecret',
  'mfasecret',
  'recoverycodes',
  'securityanswer',
]);
const SENSITIVE_SUFFIXES = ['password', 'passwd', 'passphrase', 'secret', 'privatekey', 'cardnumber', 'ssn'];

export function isSensitiveName(name: string): boolean {
  const n = normalName(name);
  if (SENSITIVE_EXACT.has(n)) return true;
  return SENSITIVE_SUFFIXES.some((suffix) => n.endsWith(suffix));
}

/**
 * Bearer credentials: legitimate in the response that issues them (a token endpoint, API-key creation shown once),
 * a leak anywhere else. Exact names only: `nextPageToken` or `csrfToken` are not credentials.
 */
const CREDENTIAL_EXACT = new Set([
  'token',
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'authtoken',
  'authenticationtoken',
  'bearertoken',
  'sessiontoken',
  'sessionid',
  'apikey',
  'apitoken',
  'secretkey',
  'clientsecret',
]);

export function isCredentialName(name: string): boolean {
  return CREDENTIAL_EXACT.has(normalName(name));
}

/**
 * Opaque pagination cursors are called tokens by many APIs (`PageToken`, `nextPageToken`, `continuation_token`,
 * `syncToken`); they are not credentials.
 */
const PAGINATION = /^(page|nextpage|next|prev|previous|pagination|continuation|continue|sync|resume|cursor|delta|skip|start)token$/;

export function isPaginationToken(name: string): boolean {
  return PAGINATION.test(normalName(name));
}

/** Words that make a URL parameter a credential (the OWASP API2:2023 "credentials in URL" list, normalised). */
const URL_CREDENTIAL_WORDS = ['clientsecret', 'secret', 'password', 'passwd', 'apikey', 'token', 'accesskey', 'sessionid'];
/** Suffixes that turn a credential word into metadata about a credential (`token_type_hint`, `api_key_id`). */
const CREDENTIAL_METADATA_SUFFIXES = ['type', 'typehint', 'hint', 'id', 'ids', 'name', 'names', 'count', 'expiry', 'expiresat', 'expiresin', 'policy', 'format', 'length', 'prefix', 'required', 'enabled', 'set'];

/** A query or path parameter whose name says it carries a credential. */
export function isCredentialParameterName(name: string): boolean {
  const n = normalName(name);
  if (isPaginationToken(name)) return false;
  const word = URL_CREDENTIAL_WORDS.find((w) => n.includes(w));
  if (word === undefined) return false;
  const after = n.slice(n.lastIndexOf(word) + word.length);
  return after === '' || !CREDENTIAL_METADATA_SUFFIXES.includes(after);
}

/** Path segments, tags and operationIds that mark an administrative function (OWASP API5:2023). */
const ADMIN_SEGMENT = /^_?(admin|admins|administrator|administrators|administration|superuser|superusers|sudo|backoffice|back-office)([-_.].*)?$/i;
const ADMIN_WORD = /(^|[^a-z])admin/i;
const ADMIN_OPERATION_ID = /(^admin|Admin|[-_.]admin)/;

export function isAdminSegment(segment: string): boolean {
  return !segment.startsWith('{') && ADMIN_SEGMENT.test(segment);
}

export function isAdminTag(tag: string): boolean {
  return ADMIN_WORD.test(tag);
}

export function isAdminOperationId(operationId: string): boolean {
  return ADMIN_OPERATION_ID.test(operationId);
}

/** Path segments that serve API documentation or an API console (OWASP API9:2023: exposed documentation). */
const DOCS_SEGMENT = /^(swagger|swagger-ui|swagger-ui\.html|swagger\.json|swagger\.yaml|swagger-resources|api-docs|apidocs|openapi|openapi\.json|openapi\.yaml|openapi\.yml|redoc|rapidoc|graphiql|scalar|api-explorer)$/i;

export function isDocsSegment(segment: string): boolean {
  return DOCS_SEGMENT.test(segment);
}
