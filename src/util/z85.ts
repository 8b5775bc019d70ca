/** Z85 (ZeroMQ RFC 32), the text form of CURVE keys: 40 characters for 32 bytes. */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
const VALUE = new Map([...ALPHABET].map((char, i) => [char, i]));

/** Decodes Z85 text; undefined when it is not valid Z85 (length not a multiple of 5, foreign characters). */
export function z85Decode(text: string): Buffer | undefined {
  if (text.length % 5 !== 0) return undefined;
  const bytes = Buffer.alloc((text.length / 5) * 4);
  for (let i = 0; i < text.length; i += 5) {
    let value = 0;
    for (let j = 0; j < 5; j++) {
      const digit = VALUE.get(text[i + j] ?? '');
      if (digit === undefined) return undefined;
      value = value * 85 + digit;
    }
    if (value > 0xffffffff) return undefined;
    bytes.writeUInt32BE(value, (i / 5) * 4);
  }
  return bytes;
}

export function z85Encode(bytes: Buffer): string {
  if (bytes.length % 4 !== 0) throw new RangeError('Z85 encodes a multiple of 4 bytes');
  let text = '';
  for (let i = 0; i < bytes.length; i += 4) {
    let value = bytes.readUInt32BE(i);
    const chunk: string[] = [];
    for (let j = 0; j < 5; j++) {
      chunk.unshift(ALPHABET[value % 85] ?? '');
      value = Math.floor(value / 85);
    }
    text += chunk.join('');
  }
  return text;
}
