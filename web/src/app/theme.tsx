import { useEffect, useState } from "react";

type Theme = "system" | "light" | "dark";

function read(): Theme {
  const t = localStorage.getItem("sotto-theme");
  return t === "light" || t === "dark" ? t : "system";
}

/** Light, dark, or the system's choice; stored locally, applied as `data-theme` on <html>. */
export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(read);
  useEffect(() => {
    if (theme === "system") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", theme);
    localStorage.setItem("sotto-theme", theme);
  }, [theme]);
  return (
    <label className="hint">
      <span className="visually-hidden">Theme</span>
      <select
        value={theme}
        onChange={(e) => {
          const v = e.target.value;
          setTheme(v === "light" || v === "dark" ? v : "system");
        }}
        aria-label="Theme"
      >
        <option value="system">System theme</option>
        <option value="light">Light</option>
        <option value="dark">Dark</option>
      </select>
    </label>
  );
}
