/**
 * The entry point: starts the `SottoClient` and mounts the app inside the one `SottoProvider`
 * (`lib/sotto.tsx`), through which every screen reaches it. Only this file imports the app.
 */

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import "./app/styles.css";
import { App } from "./app/App";
import { SottoClient } from "./lib/engine/client";
import { SottoProvider } from "./lib/sotto";

const root = document.getElementById("root");
if (root) {
  const theme = localStorage.getItem("sotto-theme");
  if (theme === "light" || theme === "dark")
    document.documentElement.setAttribute("data-theme", theme);
  const reactRoot = createRoot(root);
  SottoClient.start(location.origin)
    .then((client) => {
      reactRoot.render(
        <StrictMode>
          <SottoProvider client={client}>
            <App />
          </SottoProvider>
        </StrictMode>,
      );
    })
    .catch((e: unknown) => {
      const p = document.createElement("p");
      p.setAttribute("role", "alert");
      p.textContent = `Sotto could not start: ${e instanceof Error ? e.message : String(e)}`;
      root.replaceChildren(p);
    });
}
