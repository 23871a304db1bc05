import { connect, Socket } from 'node:net';

/**
 * MQTT 3.1.1 on a bare socket, for sending exactly the packets a test names (many at once, in one
 * write) and seeing exactly what comes back, which a client library would smooth over.
 */
export interface RawMqttConnection {
  /** Packets received so far, by their type nibble (2 CONNACK, 9 SUBACK…), with their bytes. */
  packets: { type: number; body: Buffer }[];
  /** Resolves when the server closes the connection. */
  closed: Promise<void>;
  isClosed(): boolean;
  write(bytes: Buffer): void;
  /**
   * Resolves with the earliest packet of `type` no earlier call returned (rejects if the connection
   * closes first).
   */
  nextPacket(type: number): Promise<Buffer>;
  end(): void;
}

function remainingLength(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

function utf8(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function packet(firstByte: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([firstByte]), remainingLength(body.length), body]);
}

/** CONNECT with clean session, keep-alive 60, user name and password. */
export function connectPacket(clientId: string, username: string, password: string): Buffer {
  const header = Buffer.concat([utf8('MQTT'), Buffer.from([4, 0xc2, 0, 60])]);
  return packet(0x10, Buffer.concat([header, utf8(clientId), utf8(username), utf8(password)]));
}

/** SUBSCRIBE (QoS 1 each) of `topics` with packet id `messageId`. */
export function subscribePacket(messageId: number, topics: string[]): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(messageId);
  return packet(
    0x82,
    Buffer.concat([id, ...topics.map((t) => Buffer.concat([utf8(t), Buffer.from([1])]))]),
  );
}

/** Opens a socket, sends CONNECT, and resolves once the CONNACK is in (with its return code). */
export function rawMqttConnect(
  port: number,
  login: { clientId: string; username: string; password: string },
  /** The local address to connect from (any of 127.0.0.0/8 stands for another client address). */
  localAddress = '127.0.0.1',
): Promise<{ conn: RawMqttConnection; returnCode: number }> {
  const packets: { type: number; body: Buffer }[] = [];
  const waiters = new Set<() => void>();
  let buffer = Buffer.alloc(0);
  let closed = false;
  const taken = new Set<number>();
  const socket: Socket = connect({ port, host: '127.0.0.1', localAddress }, () =>
    socket.write(connectPacket(login.clientId, login.username, login.password)),
  );
  const closedPromise = new Promise<void>((resolve) =>
    socket.on('close', () => {
      closed = true;
      for (const w of [...waiters]) w();
      resolve();
    }),
  );
  socket.on('error', () => undefined); // a reset is a close for these tests
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      let length = 0;
      let multiplier = 1;
      let i = 1;
      for (; i < buffer.length && i <= 4; i++) {
        length += (buffer[i] & 0x7f) * multiplier;
        multiplier *= 128;
        if ((buffer[i] & 0x80) === 0) break;
      }
      if (i >= buffer.length || buffer.length < i + 1 + length) return;
      packets.push({ type: buffer[0] >> 4, body: buffer.subarray(i + 1, i + 1 + length) });
      buffer = buffer.subarray(i + 1 + length);
      for (const w of [...waiters]) w();
    }
  });
  const conn: RawMqttConnection = {
    packets,
    closed: closedPromise,
    isClosed: () => closed,
    write: (bytes) => socket.write(bytes),
    end: () => socket.destroy(),
    nextPacket(type) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = 0; i < packets.length; i++) {
            if (packets[i].type === type && !taken.has(i)) {
              taken.add(i);
              waiters.delete(check);
              resolve(packets[i].body);
              return;
            }
          }
          if (closed) {
            waiters.delete(check);
            reject(new Error(`connection closed before a packet of type ${type}`));
          }
        };
        waiters.add(check);
        check();
      });
    },
  };
  return conn.nextPacket(2).then((body) => ({ conn, returnCode: body[1] }));
}

/** The CONNACK return code a login gets (0: accepted); the connection is closed either way. */
export async function loginCode(
  port: number,
  login: { clientId: string; username?: string; password: string },
  localAddress?: string,
): Promise<number> {
  const { conn, returnCode } = await rawMqttConnect(
    port,
    { username: login.clientId, ...login },
    localAddress,
  );
  conn.end();
  return returnCode;
}
