// Command kubectl is the kubectl client matching the API server's version.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		// kubectl prints its own errors; CheckErr maps them to exit codes.
		util.CheckErr(err)
	}
}
