// Package functions will be the Azure Functions custom handler whose HTTP
// triggers submit, list, inspect and cancel jobs on a coordinator group
// (issue 7). It is not built yet.
package functions
