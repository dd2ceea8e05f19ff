package main

import (
	"fmt"

	"github.com/sluicehq/sluice/executor/operator/operatortest"
)

// Example runs the custom operator on two records with the test harness.
func Example() {
	def := Reverse()
	op := operatortest.NewOperator(nil, def, `{"field": "word"}`)
	out, err := operatortest.RunOperator(nil, op, operatortest.NewContext(nil),
		operatortest.Records(`{"word": "sluice", "n": 1}`, `{"word": "日本", "n": 2}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(operatortest.JSON(out))
	fmt.Println(operatortest.ConfigErrors(def, `{"feild": "word"}`))
	// Output:
	// {"word":"eciuls","n":1}
	// {"word":"本日","n":2}
	//
	// [feild: unknown field "feild" (did you mean "field"?)]
}
