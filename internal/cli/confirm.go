package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// confirm asks question on stderr, so that stdout keeps only the result,
// and reads the answer from stdin: true for y or yes, in any case;
// anything else, or no answer, is no.
func (a *app) confirm(question string) (bool, error) {
	if _, err := fmt.Fprint(a.stderr, question); err != nil {
		return false, err
	}
	answer, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("reading the answer: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}
