package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

// containerLifetime bounds how long a container outlives a test binary that
// was killed before it could remove it.
const containerLifetime = 3 * time.Hour

func startDocker(ctx context.Context) (*Server, error) {
	image := os.Getenv(EnvImage)
	if image == "" {
		image = DefaultImage
	}
	return startDockerImage(ctx, image)
}

// startDockerImage starts a server in a container of image.
func startDockerImage(ctx context.Context, image string) (*Server, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	pool.MaxWait = 90 * time.Second
	if err := pool.Client.Ping(); err != nil {
		return nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	repo, tag := image, "latest"
	if i := strings.LastIndex(image, ":"); i > 0 && !strings.Contains(image[i:], "/") {
		repo, tag = image[:i], image[i+1:]
	}
	if _, err := pool.Client.InspectImage(repo + ":" + tag); err != nil {
		// Not here: try to pull it, briefly; a machine that cannot pull
		// falls through to the next source.
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := pool.Client.PullImage(docker.PullImageOptions{Repository: repo, Tag: tag, Context: pctx}, docker.AuthConfiguration{})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("image %s not present and cannot be pulled: %w", image, err)
		}
	}
	password := randomPassword()
	cmd := []string{"postgres"}
	for _, s := range serverSettings {
		cmd = append(cmd, "-c", s)
	}
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: repo,
		Tag:        tag,
		Env:        []string{"POSTGRES_PASSWORD=" + password, "POSTGRES_USER=postgres"},
		Cmd:        cmd,
		Labels:     map[string]string{"pgmimeo.test": "1"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
		hc.ShmSize = 512 << 20
	})
	if err != nil {
		return nil, fmt.Errorf("start container from %s: %w", image, err)
	}
	_ = res.Expire(uint(containerLifetime.Seconds()))
	hostPort := res.GetHostPort("5432/tcp")
	host, port, ok := strings.Cut(hostPort, ":")
	if !ok {
		_ = pool.Purge(res)
		return nil, fmt.Errorf("container %s has no mapped port 5432", res.Container.ID)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	s := &Server{Source: "docker", Host: host, Port: port, User: "postgres", Password: password, Container: res.Container.ID}
	s.stop = func() error { return pool.Purge(res) }
	// The official image's entrypoint runs its initialisation server on a
	// Unix socket only, so the first TCP answer comes from the real server.
	if err := s.waitReady(ctx, 90*time.Second, containerExited(pool, res.Container.ID)); err != nil {
		logs := containerLogs(pool, res.Container.ID)
		_ = pool.Purge(res)
		return nil, fmt.Errorf("%w\ncontainer log:\n%s", err, logs)
	}
	return s, nil
}

func containerExited(pool *dockertest.Pool, id string) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for i := 0; i < 900; i++ {
			c, err := pool.Client.InspectContainer(id)
			if err != nil || !c.State.Running {
				ch <- errors.New("container stopped")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return ch
}

func containerLogs(pool *dockertest.Pool, id string) string {
	var b strings.Builder
	_ = pool.Client.Logs(docker.LogsOptions{Container: id, OutputStream: &b, ErrorStream: &b, Stdout: true, Stderr: true})
	return b.String()
}
