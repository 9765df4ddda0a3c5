/** A local password-strength estimate (no network, no dictionary download). */

export interface Strength {
  readonly score: 0 | 1 | 2 | 3 | 4;
  readonly label: string;
  readonly advice: string;
}

const COMMON = [
  "password",
  "123456",
  "qwerty",
  "letmein",
  "welcome",
  "admin",
  "iloveyou",
  "sotto",
  "abc123",
  "monkey",
  "dragon",
];

export function passwordStrength(password: string, username = ""): Strength {
  if (password.length === 0)
    return {
      score: 0,
      label: "Empty",
      advice: "At least 8 characters; a few unrelated words work well.",
    };
  const lower = password.toLowerCase();
  let classes = 0;
  if (/[a-z]/.test(password)) classes++;
  if (/[A-Z]/.test(password)) classes++;
  if (/[0-9]/.test(password)) classes++;
  if (/[^A-Za-z0-9]/.test(password)) classes++;
  const unique = new Set(password).size;
  let bits = password.length * Math.log2(Math.max(2, [0, 26, 52, 62, 94][classes] ?? 26));
  if (unique < password.length / 2) bits *= 0.6;
  if (COMMON.some((w) => lower.includes(w))) bits *= 0.4;
  if (username.length >= 3 && lower.includes(username.toLowerCase())) bits *= 0.5;
  if (/^(.)\1+$/.test(password) || /(0123|1234|2345|abcd|qwer)/.test(lower)) bits *= 0.5;
  if (password.length < 8)
    return {
      score: 0,
      label: "Too short",
      advice: `${8 - password.length} more characters needed (8 minimum).`,
    };
  if (bits < 40)
    return {
      score: 1,
      label: "Weak",
      advice: "Easy to guess. Make it longer or add unrelated words.",
    };
  if (bits < 60)
    return { score: 2, label: "Fair", advice: "Longer is better: aim for 14+ characters." };
  if (bits < 80) return { score: 3, label: "Good", advice: "A good password." };
  return { score: 4, label: "Strong", advice: "A strong password." };
}
