// Package compose holds the deployment's Docker Compose files (dev.yml,
// prod.yml, staging.yml on top of prod.yml), the Caddyfile between the
// Cloudflare tunnel and the cloud's processes, and the dashboard. It has no
// code: its test loads every file with the compose-spec library (there is no
// Docker engine on our machines, so the files are validated, not run) and
// checks the rules docs/deploy.md promises.
package compose
