/**
 * File transfer for one bot: downloads (getFile + `/file/bot<token>/<path>`, with the Bot API's
 * 20 MB limit), uploads through the right send method, and avatar keys.
 */

import type { Api, InputFile } from "grammy";
import type { Media, MediaRef } from "../../src/core/connector";
import { BridgeError } from "../../src/core/errors";
import type { TelegramSendMethod } from "./convert/index";
import { describe, isBadRequest, tg } from "./errors";
import { CUSTOM_EMOJI_PREFIX } from "./inbound";
import { MAX_DOWNLOAD_BYTES } from "./limits";

/**
 * Avatar keys are `tgfile:<file_unique_id>`: a file_id may change for the same picture, the
 * unique id changes only when the picture does. The file_id to fetch it is remembered here.
 */
const AVATAR_PREFIX = "tgfile:";

/** Downloads, uploads and avatar references of one bot. */
export class TelegramFiles {
  /** `file_unique_id` → `file_id` for avatar keys (filled by chatInfo/userInfo). */
  private readonly avatarFiles = new Map<string, string>();

  constructor(
    private readonly api: Api,
    private readonly apiRoot: string,
    private readonly token: string,
  ) {}

  /** A MediaRef for a profile or chat photo; fetchable while this process knows the file_id. */
  avatarRef(uniqueId: string, fileId: string, size?: number): MediaRef {
    if (this.avatarFiles.size > 10_000) this.avatarFiles.delete(this.avatarFiles.keys().next().value!);
    this.avatarFiles.set(uniqueId, fileId);
    return size === undefined
      ? { key: `${AVATAR_PREFIX}${uniqueId}`, mimetype: "image/jpeg" }
      : { key: `${AVATAR_PREFIX}${uniqueId}`, mimetype: "image/jpeg", size };
  }

  /** getFile + download. Refuses files over the Bot API's 20 MB download limit with status 413. */
  async download(ref: MediaRef): Promise<Media> {
    const tooBig = (): Error =>
      Object.assign(
        new BridgeError(`${ref.name ?? "the file"} is larger than the 20 MB a Telegram bot may download`),
        { status: 413 },
      );
    if (ref.size !== undefined && ref.size > MAX_DOWNLOAD_BYTES) throw tooBig();
    let fileId = ref.key;
    if (ref.key.startsWith(CUSTOM_EMOJI_PREFIX)) {
      // A custom emoji's picture: its sticker (a still one), or the thumbnail of an animated one.
      const [sticker] = await tg(() =>
        this.api.getCustomEmojiStickers([ref.key.slice(CUSTOM_EMOJI_PREFIX.length)]),
      );
      const picture =
        sticker && !sticker.is_animated && !sticker.is_video ? sticker.file_id : sticker?.thumbnail?.file_id;
      if (!picture)
        throw Object.assign(new BridgeError("Telegram has no picture of that custom emoji"), { status: 404 });
      fileId = picture;
    } else if (ref.key.startsWith(AVATAR_PREFIX)) {
      const known = this.avatarFiles.get(ref.key.slice(AVATAR_PREFIX.length));
      if (!known)
        throw Object.assign(new Error(`unknown avatar ${ref.key}: look the profile up again`), {
          status: 404,
        });
      fileId = known;
    }
    const file = await tg(() => this.api.getFile(fileId)).catch((err: unknown) => {
      throw isBadRequest(err, "file is too big") ? tooBig() : err;
    });
    if (!file.file_path) throw Object.assign(new Error("Telegram gave no file_path"), { status: 502 });
    if ((file.file_size ?? 0) > MAX_DOWNLOAD_BYTES) throw tooBig();
    let res: Response;
    try {
      res = await fetch(`${this.apiRoot}/file/bot${this.token}/${file.file_path}`);
    } catch (err) {
      throw Object.assign(new Error(`Telegram file download failed: ${describe(err)}`), {
        code: "ECONNRESET",
      });
    }
    if (!res.ok)
      throw Object.assign(new Error(`Telegram file download answered ${res.status}`), { status: res.status });
    return {
      data: Buffer.from(await res.arrayBuffer()),
      mimetype: ref.mimetype ?? res.headers.get("content-type") ?? "application/octet-stream",
      name: ref.name ?? file.file_path.split("/").pop() ?? "file",
    };
  }

  /** Sends a file with the given Bot API method. */
  upload(
    method: TelegramSendMethod,
    chatId: number,
    file: InputFile,
    other: Record<string, unknown>,
  ): Promise<{ message_id: number; date: number }> {
    switch (method) {
      case "sendPhoto":
        return this.api.sendPhoto(chatId, file, other);
      case "sendVideo":
        return this.api.sendVideo(chatId, file, other);
      case "sendAudio":
        return this.api.sendAudio(chatId, file, other);
      case "sendVoice":
        return this.api.sendVoice(chatId, file, other);
      case "sendAnimation":
        return this.api.sendAnimation(chatId, file, other);
      case "sendSticker":
        return this.api.sendSticker(chatId, file, other);
      default:
        return this.api.sendDocument(chatId, file, other);
    }
  }
}
