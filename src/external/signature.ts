// The partner API's request signature (CONTRACT §5, "External users"):
//
//   X-Signature = hex(HMAC-SHA256(EXTERNAL_API_SECRET, METHOD&PATH&TIMESTAMP&NONCE[&QUERY][&BODY]))
//
// The implementation lives in src/security/request-signature.ts, shared with the signed client
// requests (CLIENT_SIGNING_SECRET); these names stay here for the partner docs, tests and examples.

export {
  canonicalQuery,
  canonicalString,
  sign,
  verifySignature,
  type CanonicalArgs,
  type QueryInput,
} from '../security/request-signature.js';
