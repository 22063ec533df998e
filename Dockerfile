# surge in a container: FROM scratch, holding only the static binary (built OUTSIDE docker: no image can
# be pulled here, so there is no rust image to build in), the shipped profiles and a non-root user.
#
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target x86_64-unknown-linux-gnu -p surge-cli
#   docker build -t surge:local .
#
# bench/compose-test.sh does both and runs docker-compose.yml. /etc/hosts, /etc/resolv.conf and
# /etc/hostname are mounted by docker at run time.
FROM scratch
COPY deploy/docker/etc/passwd deploy/docker/etc/group deploy/docker/etc/nsswitch.conf /etc/
COPY target/x86_64-unknown-linux-gnu/release/surge /surge
COPY profiles /profiles
USER 65532:65532
WORKDIR /
ENV RUST_LOG=warn
EXPOSE 7700 8080
ENTRYPOINT ["/surge"]
CMD ["--help"]
