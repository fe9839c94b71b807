// @peculiar/x509 needs a Reflect metadata polyfill (through tsyringe). It is loaded here, by the
// PKI commands only: the gateway and dashboard processes never load it. It uses Node's WebCrypto
// (globalThis.crypto) by itself.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

export { x509 };
export const subtle = webcrypto.subtle;
export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

/** ECDSA on P-384 with SHA-384: the CA's key and signatures. */
export const CA_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' } as const;
/** ECDSA on P-256 with SHA-256: the keys of gateways, workstations, dashboards and brokers. */
export const LEAF_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
