export { sessionLoginEndpoint, sessionLogoutEndpoint, type SessionEndpointOptions } from './endpoints.ts';
