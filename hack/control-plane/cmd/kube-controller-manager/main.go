// Command kube-controller-manager runs upstream's controllers (Deployments, ReplicaSets,
// ServiceAccounts, EndpointSlices, ...), linked from k8s.io/kubernetes.
package main

import (
	"os"
	_ "time/tzdata" // timezone data for CronJobs, as upstream embeds it

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}
