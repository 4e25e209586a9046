// Command kubelet is upstream's node agent, linked from k8s.io/kubernetes. The cluster
// runner (hack/cluster) runs it against containerd to start real pods.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"            // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/restclient" // client metrics
	_ "k8s.io/component-base/metrics/prometheus/version"    // version metric
	"k8s.io/kubernetes/cmd/kubelet/app"
)

func main() {
	os.Exit(cli.Run(app.NewKubeletCommand()))
}
