import type { Request, Response } from 'express';

export const SESSION_COOKIE = 'dalaba_session';
/**
 * Device cookies are named `dalaba_device_<16 hex>`, one per account signed in from the browser
 * (SessionsService.deviceCookieName); a cookie of the bare name is from an earlier version.
 */
export const DEVICE_COOKIE = 'dalaba_device';
export const DEVICE_COOKIE_MAX_AGE_S = 365 * 24 * 3600;

/** One cookie of the request (the app has no cookie parser: only a few names are ever read). */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      return /^[A-Za-z0-9._-]{1,300}$/.test(value) ? value : undefined;
    }
  }
  return undefined;
}

/** HttpOnly, SameSite=Strict, whole site; Secure whenever the browser reached us over TLS. */
export function setCookie(
  req: Request,
  res: Response,
  name: string,
  value: string,
  maxAgeS: number,
): void {
  const secure = req.secure ? '; Secure' : '';
  const cookie = `${name}=${value}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAgeS}${secure}`;
  const prior = res.getHeader('Set-Cookie');
  const list = Array.isArray(prior) ? prior : prior === undefined ? [] : [String(prior)];
  res.setHeader('Set-Cookie', [...list, cookie]);
}

export const clearCookie = (req: Request, res: Response, name: string): void =>
  setCookie(req, res, name, '', 0);
