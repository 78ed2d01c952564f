# The docker compose stack (docker-compose.yml, docs/compose.md).
#
#   make up      generate the secrets if missing, build the static binary and
#                the image, start detached, wait until healthy
#   make down    remove the stack's containers, networks, volumes and image
#   make scale WORKERS=N, make ps, make logs [SERVICE=worker], make status
#   make clean-secrets   remove deploy/secrets (after make down)

# `docker compose` (the plugin) when it answers, Debian's docker-compose 1.29 otherwise.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo docker-compose)
# The module's Go; go.mod's go line makes an older one refuse or fetch the right toolchain.
GO ?= $(firstword $(shell command -v go) /usr/local/go/bin/go)
# The project names the containers, network, volumes and image: the checkout's
# directory plus a hash of its path, so two checkouts on one host never collide.
PROJECT ?= $(shell printf '%s' '$(notdir $(CURDIR))' | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_-' '-' | tr -s '-')-$(shell printf '%s' '$(CURDIR)' | cksum | cut -c1-6)
export COMPOSE_PROJECT_NAME := $(PROJECT)
# As docker-compose.yml names it.
IMAGE := $(PROJECT)-jetpool:local
WORKERS ?= 1
# How long `make up` waits for every container to be healthy.
UP_TIMEOUT ?= 120
# Host clients are given all three nodes and fail over between them.
HOST_NATS_URL ?= nats://127.0.0.1:$(or $(JETPOOL_N1_PORT),4222),nats://127.0.0.1:$(or $(JETPOOL_N2_PORT),4223),nats://127.0.0.1:$(or $(JETPOOL_N3_PORT),4224)
HOST_MONITOR ?= http://127.0.0.1:$(or $(JETPOOL_N1_HTTP),8222),http://127.0.0.1:$(or $(JETPOOL_N2_HTTP),8223),http://127.0.0.1:$(or $(JETPOOL_N3_HTTP),8224)

# The NKey seeds, the CA and the certificates (docs/compose.md): untracked,
# made once by `make secrets`, mounted as compose secrets.
SECRETS := deploy/secrets
# compose with the users' public keys, for deploy/security/server.conf.
COMPOSE_SECURE = set -a && . ./$(SECRETS)/nkeys.env && set +a && $(COMPOSE)
# A host client's identity: ROLE's seed and client certificate, the CA.
identity = --nkey $(SECRETS)/$(1).nk --tlsca $(SECRETS)/ca.pem --tlscert $(SECRETS)/$(1)-cert.pem --tlskey $(SECRETS)/$(1)-key.pem

BUILD = CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w'

.PHONY: up down binary image secrets clean-secrets wait scale ps logs status

# Always rebuilt: go's build cache makes an unchanged tree cheap, and a
# binary left over from another tree is never what the image gets.
binary:
	$(BUILD) -o deploy/jetpool ./cmd/jetpool

image: binary
	$(COMPOSE) build n1

# Made when missing or within a week of expiring; kept across make down, so
# host clients and a running stack keep working.
secrets:
	$(GO) run ./deploy/gensecrets -dir $(SECRETS)

clean-secrets:
	rm -rf $(SECRETS)

up: secrets image
	$(COMPOSE_SECURE) up -d --scale worker=$(WORKERS)
	@$(MAKE) --no-print-directory wait

# Every container of the project healthy (or running, when it has no health
# check) and the one-shot provision exited 0. docker-compose 1.29 has no
# `up --wait`, so this asks Docker, by the project label both compose
# implementations set.
wait:
	@end=$$(( $$(date +%s) + $(UP_TIMEOUT) )); \
	while :; do \
	  pending=""; \
	  for c in $$(docker ps -aq --filter label=com.docker.compose.project=$(PROJECT)); do \
	    s=$$(docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $$c); \
	    set -- $$s; \
	    case "$$2/$$3/$$4" in \
	      running/*/healthy|running/*/none|exited/0/*) ;; \
	      exited/*) echo "$$1 exited with $$3:"; docker logs --tail 20 $$c; exit 1 ;; \
	      *) pending="$$pending $$1($$2,$$4)" ;; \
	    esac; \
	  done; \
	  [ -z "$$pending" ] && { echo "$(PROJECT): healthy"; break; }; \
	  [ $$(date +%s) -ge $$end ] && { echo "not healthy after $(UP_TIMEOUT)s:$$pending"; exit 1; }; \
	  sleep 1; \
	done

down:
	$(COMPOSE) down --volumes --remove-orphans
	docker image rm -f $(IMAGE) 2>/dev/null || true
	docker image prune -f --filter label=io.jetpool.compose.project=$(PROJECT) >/dev/null

scale:
	$(COMPOSE_SECURE) up -d --no-deps --scale worker=$(WORKERS) worker

ps:
	$(COMPOSE) ps

logs:
	$(COMPOSE) logs -f --tail 100 $(SERVICE)

# As the admin: status reads every queue's consumer; the meta leader comes
# from the nodes' monitoring ports.
status:
	deploy/jetpool --nats-url '$(HOST_NATS_URL)' $(call identity,admin) status --monitor '$(HOST_MONITOR)'
