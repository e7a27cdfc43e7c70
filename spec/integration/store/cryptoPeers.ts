import * as Crypto from "@matrix-org/matrix-sdk-crypto-wasm";

/**
 * The homeserver's part of end-to-end encryption between OlmMachines in one process: it keeps
 * the device and one-time keys the machines upload, answers /keys/query and /keys/claim as the
 * server does, and holds to-device messages until the recipient syncs. Enough to establish Olm
 * and Megolm sessions without a server.
 */
export class KeyServer {
  private readonly deviceKeys = new Map<string, Record<string, unknown>>();
  private readonly oneTimeKeys = new Map<string, Map<string, unknown>>();
  private readonly inbox = new Map<string, object[]>();

  /** Sends everything `machine` wants sent, answering each request, until it has nothing left. */
  async sendOutgoing(machine: Crypto.OlmMachine): Promise<void> {
    for (let round = 0; round < 10; round++) {
      const requests = await machine.outgoingRequests();
      if (requests.length === 0) return;
      for (const req of requests) {
        const r = req as { id: string; type: Crypto.RequestType; body: string };
        await machine.markRequestAsSent(r.id, r.type, JSON.stringify(this.answer(machine, r, req)));
      }
    }
    throw new Error("the machine kept producing requests");
  }

  /** Hands `machine` its waiting to-device messages (and its one-time key count), as a sync does. */
  async sync(machine: Crypto.OlmMachine): Promise<unknown[]> {
    const id = who(machine);
    const events = this.inbox.get(id) ?? [];
    this.inbox.set(id, []);
    const counts = new Map([["signed_curve25519", this.oneTimeKeys.get(id)?.size ?? 0]]);
    return machine.receiveSyncChanges(JSON.stringify(events), new Crypto.DeviceLists(), counts, new Set());
  }

  /** Delivers the to-device requests `requests` (from shareRoomKey) and marks them sent. */
  async deliver(sender: Crypto.OlmMachine, requests: Crypto.ToDeviceRequest[]): Promise<void> {
    for (const req of requests) {
      const body = JSON.parse(req.body) as { messages: Record<string, Record<string, unknown>> };
      this.queueToDevice(sender.userId.toString(), req.event_type, body.messages);
      await sender.markRequestAsSent(req.id, req.type, "{}");
    }
  }

  private answer(
    machine: Crypto.OlmMachine,
    r: { type: Crypto.RequestType; body: string },
    req: unknown,
  ): unknown {
    const body = JSON.parse(r.body) as Record<string, unknown>;
    const id = who(machine);
    switch (r.type) {
      case Crypto.RequestType.KeysUpload: {
        if (body.device_keys) this.deviceKeys.set(id, body.device_keys as Record<string, unknown>);
        const otks = this.oneTimeKeys.get(id) ?? new Map<string, unknown>();
        for (const [keyId, key] of Object.entries((body.one_time_keys ?? {}) as Record<string, unknown>)) {
          otks.set(keyId, key);
        }
        this.oneTimeKeys.set(id, otks);
        return { one_time_key_counts: { signed_curve25519: otks.size } };
      }
      case Crypto.RequestType.KeysQuery: {
        const wanted = Object.keys((body.device_keys ?? {}) as Record<string, unknown>);
        const deviceKeys: Record<string, Record<string, unknown>> = {};
        for (const user of wanted) {
          deviceKeys[user] = {};
          for (const [key, keys] of this.deviceKeys) {
            const [u, d] = key.split("|");
            if (u === user) deviceKeys[user]![d!] = keys;
          }
        }
        return { device_keys: deviceKeys, failures: {} };
      }
      case Crypto.RequestType.KeysClaim:
        return this.claimFor(r.body);
      case Crypto.RequestType.ToDevice: {
        const td = req as Crypto.ToDeviceRequest;
        this.queueToDevice(machine.userId.toString(), td.event_type, (body as { messages: never }).messages);
        return {};
      }
      default:
        return {};
    }
  }

  /** The answer to a /keys/claim request body: one one-time key per device asked for, used up. */
  claimFor(json: string): unknown {
    const claim = (JSON.parse(json) as { one_time_keys: Record<string, Record<string, string>> })
      .one_time_keys;
    const out: Record<string, Record<string, Record<string, unknown>>> = {};
    for (const [user, devices] of Object.entries(claim)) {
      out[user] = {};
      for (const device of Object.keys(devices)) {
        const otks = this.oneTimeKeys.get(`${user}|${device}`);
        const first = otks ? [...otks.entries()][0] : undefined;
        if (!first) continue;
        otks!.delete(first[0]);
        out[user]![device] = { [first[0]]: first[1] };
      }
    }
    return { one_time_keys: out, failures: {} };
  }

  private queueToDevice(
    sender: string,
    type: string,
    messages: Record<string, Record<string, unknown>>,
  ): void {
    for (const [user, devices] of Object.entries(messages)) {
      for (const [device, content] of Object.entries(devices)) {
        const key = `${user}|${device}`;
        this.inbox.set(key, [...(this.inbox.get(key) ?? []), { sender, type, content }]);
      }
    }
  }
}

function who(machine: Crypto.OlmMachine): string {
  return `${machine.userId.toString()}|${machine.deviceId.toString()}`;
}

/** Makes `a` and `b` know each other's devices (a /keys/query each). */
export async function introduce(
  server: KeyServer,
  a: Crypto.OlmMachine,
  b: Crypto.OlmMachine,
): Promise<void> {
  await server.sendOutgoing(a);
  await server.sendOutgoing(b);
  await a.updateTrackedUsers([b.userId]);
  await b.updateTrackedUsers([a.userId]);
  await server.sendOutgoing(a);
  await server.sendOutgoing(b);
}

/**
 * Shares `sender`'s room key for `room` with `recipients` (claiming one-time keys first).
 * User ids go in as text: the wasm takes ownership of the UserId objects a call receives.
 */
export async function shareRoomKey(
  server: KeyServer,
  sender: Crypto.OlmMachine,
  room: string,
  recipients: string[],
): Promise<void> {
  const users = (): Crypto.UserId[] => recipients.map((u) => new Crypto.UserId(u));
  const claim = await sender.getMissingSessions(users());
  if (claim) {
    await sender.markRequestAsSent(claim.id, claim.type, JSON.stringify(server.claimFor(claim.body)));
  }
  const requests = await sender.shareRoomKey(
    new Crypto.RoomId(room),
    users(),
    new Crypto.EncryptionSettings(),
  );
  await server.deliver(sender, requests);
}
