{
  # `nix develop` gives everything the project needs on a workstation: Node 20, pnpm 10,
  # buf (proto lint), a JDK 17 and Maven (the local Kafka broker is fetched from Maven
  # Central by infra/kafka/fetch.sh), nixpkgs' Apache Kafka for its command line tools,
  # and the toolchain better-sqlite3 compiles with. See docs/deployment.md.
  #
  # flake.lock is not committed yet (it was written on a machine without Nix): the first
  # `nix develop` creates it; commit it to pin nixpkgs for everyone.
  description = "Fault-tolerant trading pipeline on Effect: development shell";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_20
            pkgs.pnpm_10
            pkgs.buf
            pkgs.jdk17
            pkgs.maven
            pkgs.apacheKafka
            # better-sqlite3 builds its native addon with node-gyp (python3, make, a C++ compiler from stdenv)
            pkgs.python3
            pkgs.gnumake
          ];

          shellHook = ''
            export JAVA_HOME=${pkgs.jdk17.home}
            cat <<'HELP'
            trading pipeline dev shell (Node 20, pnpm 10, buf, JDK 17, Maven, Kafka tools)
              pnpm install                 install the workspace
              pnpm start                   the whole pipeline in one process (embedded bus)
              pnpm kafka:up / kafka:down   a local Apache Kafka on 127.0.0.1:9092 (jars from Maven)
              pnpm start:<svc>             market-ingestor | stream-processor | order-executor | raft-node
              pnpm test                    unit and integration tests (starts Kafka if KAFKA_BROKERS is unset)
              pnpm typecheck && pnpm lint
            HELP
          '';
        };
      });
    };
}
