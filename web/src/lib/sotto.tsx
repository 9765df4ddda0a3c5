/**
 * The one way React code reaches the engine: `SottoProvider` holds the app's `SottoClient` in a
 * context, and features call `useSotto()` for its actions and `useSottoView()` for its immutable
 * view. It lives in `lib` (shared), not in `app`, because features may import only shared code;
 * the app mounts the provider once, so no component takes the client as a prop.
 *
 * When the client hands over to another account's (`SottoClient.onReplace`), the provider holds
 * the new one and mounts its children afresh: no screen state of one account survives into
 * another's.
 */

import {
  type ReactNode,
  createContext,
  useContext,
  useEffect,
  useState,
  useSyncExternalStore,
} from "react";

import type { SottoClient } from "./engine/client";
import type { AppView } from "./engine/model";

const SottoContext = createContext<SottoClient | undefined>(undefined);

export function SottoProvider({ client, children }: { client: SottoClient; children: ReactNode }) {
  const [current, setCurrent] = useState(client);
  useEffect(() => current.onReplace(setCurrent), [current]);
  return (
    <SottoContext value={current} key={current.accountName ?? ""}>
      {children}
    </SottoContext>
  );
}

/** The engine's actions. Throws outside a `SottoProvider`: a component rendered there is a bug. */
export function useSotto(): SottoClient {
  const client = useContext(SottoContext);
  if (client === undefined) throw new Error("useSotto() is used outside a <SottoProvider>");
  return client;
}

/** The engine's current view; the component renders again whenever it changes. */
export function useSottoView(): AppView {
  const client = useSotto();
  // The same snapshot serves a render outside the browser (the unit tests render to a string).
  return useSyncExternalStore(client.subscribe, client.getView, client.getView);
}
