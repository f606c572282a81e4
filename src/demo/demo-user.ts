/**
 * The demo gateway's user (docs/configuration.md §6, "The demo"): `npm start` and `pqgate serve`
 * without `--config` accept the user `demo` with the password `pqgate-demo` on the demo route
 * `https://demo/api/me`. The password is public and documented: this is a demo account, not a
 * secret. The line is an ordinary users-file entry (USER:PHC, Argon2id with the default
 * parameters m=19456 KiB, t=2, p=1, and a random salt), made once with `pqgate passwd add demo`.
 */
export const DEMO_USER = "demo";
export const DEMO_PASSWORD = "pqgate-demo";
export const DEMO_USERS_FILE =
  "demo:$argon2id$v=19$m=19456,t=2,p=1$4VWK60X8ryo+uRBDs1PTfQ$GVy47UiKi+aIxxlG7kC/lGUqNxyNkDlh10SAVzeNsS8\n";
